"""A throwaway PostgreSQL 15 primary with a synchronous streaming standby,
for tests that fail stet's database over under it. Both servers live in a
temp folder on free loopback ports, apart from the cluster pg_virtualenv
gives the run (which it leaves alone).

With synchronous_standby_names naming the standby, a commit returns only
once the standby has flushed it, so every edit stet acked is on the standby
when the primary dies. The primary is given the setting only after the
standby was copied from it: a promoted standby has no standby of its own,
and with the name set would wait forever on every commit.

    with PgPair() as pair:
        conninfo = pair.conninfo()   # both hosts, target_session_attrs=read-write
        pair.kill_primary()          # SIGKILL the postmaster
        pair.promote_standby()       # returns once it accepts writes
        pair.stop_standby()          # the primary alone, no longer waiting for it
        pair.psql("SELECT ...")      # on whichever is primary now
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BIN = "/usr/lib/postgresql/15/bin"
NEEDED = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
STANDBY_NAME = "standby1"


def available():
    """Whether this machine has the PostgreSQL 15 server binaries."""
    return all(os.access(os.path.join(BIN, b), os.X_OK) for b in NEEDED) and shutil.which("psql") is not None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(argv):
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _alive(pid):
    """Running, not a zombie (an orphan's zombie lingers until init reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _children(pid):
    """Pids whose parent is `pid` (read before the parent dies: orphans are
    re-parented and cannot be told apart afterwards)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry))
    return out


class Node:
    """One PostgreSQL server of the pair: its data folder, port and log."""

    def __init__(self, root, name, port):
        self.name, self.port = name, port
        self.data = os.path.join(root, name)
        self.logfile = os.path.join(root, f"{name}.log")
        self.pid = None
        self.killed = False

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class PgPair:
    """Primary and synchronous standby; `start()` returns once the standby
    is streaming as 'sync'. `stop()` (or leaving the `with` block) kills
    both and removes the folder, whatever state they are in."""

    def __init__(self, dbname="stet"):
        self.dbname = dbname
        self.root = tempfile.mkdtemp(prefix="pgpair-")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.sockets = os.path.join(self.root, "sock")
        self.first = Node(self.root, "primary", free_port())
        self.second = Node(self.root, "standby", free_port())
        self.primary = self.first
        self.nodes = (self.first, self.second)

    # -- set-up --

    def _run(self, argv, timeout=120):
        r = subprocess.run(_as_postgres(argv), capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r.stdout

    def _append(self, path, lines):
        # Written as postgres: the folder is its own.
        self._run(["sh", "-c", f"cat >> '{path}' <<'EOF'\n" + "\n".join(lines) + "\nEOF\n"])

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        self._run(["mkdir", "-p", self.sockets])
        p, s = self.first, self.second
        self._run([f"{BIN}/initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
        self._append(os.path.join(p.data, "postgresql.conf"), [
            "listen_addresses = '127.0.0.1'",
            f"port = {p.port}",
            f"unix_socket_directories = '{self.sockets}'",
            "wal_level = replica",
            "max_wal_senders = 5",
            "wal_keep_size = 128MB",
            "hot_standby = on",
            # A SIGKILL never loses what is in the OS page cache, so fsync
            # changes nothing these tests look at; off is kinder to a shared box.
            "fsync = off",
            "shared_buffers = 16MB",
            "max_connections = 60",
        ])
        # initdb's pg_hba.conf already trusts local and loopback, replication included.
        self._start_node(p)
        self.psql(f"CREATE DATABASE {self.dbname}", dbname="postgres")
        self._run([f"{BIN}/pg_basebackup", "-h", "127.0.0.1", "-p", str(p.port), "-U", "postgres", "-D", s.data,
                   "-R", "-X", "stream", "--no-sync", "--checkpoint=fast"])
        self._append(os.path.join(s.data, "postgresql.conf"), [f"port = {s.port}"])
        # Named, so the primary's synchronous_standby_names counts it.
        self._append(os.path.join(s.data, "postgresql.auto.conf"), [
            f"primary_conninfo = 'host=127.0.0.1 port={p.port} user=postgres application_name={STANDBY_NAME}'",
        ])
        self._start_node(s)
        self.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'", dbname="postgres")
        self.psql("SELECT pg_reload_conf()", dbname="postgres")
        self.wait_sync()

    def _start_node(self, node):
        self._run([f"{BIN}/pg_ctl", "-D", node.data, "-l", node.logfile, "-w", "-t", "60", "start"])
        with open(os.path.join(node.data, "postmaster.pid")) as f:
            node.pid = int(f.readline())

    def wait_sync(self, timeout=60):
        """Waits until the primary counts the standby as synchronous."""
        deadline = time.time() + timeout
        rows = []
        while time.time() < deadline:
            rows = self.psql("SELECT application_name, sync_state FROM pg_stat_replication", dbname="postgres")
            if [STANDBY_NAME, "sync"] in rows:
                return
            time.sleep(0.1)
        raise TimeoutError(f"standby not synchronous: {rows}\n{self.second.log()[-2000:]}")

    # -- what tests use --

    def conninfo(self, hosts=None):
        """A libpq conninfo naming both servers (or `hosts`, [(host, port)]):
        libpq tries them in order and keeps the one that accepts writes."""
        hosts = hosts or [("127.0.0.1", n.port) for n in self.nodes]
        return (f"host={','.join(h for h, _ in hosts)} port={','.join(str(port) for _, port in hosts)} "
                f"dbname={self.dbname} user=postgres target_session_attrs=read-write connect_timeout=2")

    def psql(self, sql, dbname=None, node=None):
        """Runs SQL on the current primary (or `node`); returns rows."""
        node = node or self.primary
        out = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(node.port),
             "-U", "postgres", "-d", dbname or self.dbname, "-c", sql],
            check=True, capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("PG")}).stdout
        return [line.split("|") for line in out.splitlines() if line]

    def kill_primary(self):
        """SIGKILLs the primary's postmaster. Its backends notice the
        postmaster's death and exit (a backend waiting for the standby's
        confirmation exits without telling its client the commit happened);
        any still there after 5 s are killed so none outlives the test.
        Returns the pids that had to be killed so."""
        node = self.primary
        children = _children(node.pid)
        os.kill(node.pid, signal.SIGKILL)
        node.killed = True
        deadline = time.time() + 5
        while time.time() < deadline and any(_alive(c) for c in children):
            time.sleep(0.05)
        stragglers = [c for c in children if _alive(c)]
        for c in stragglers:
            os.kill(c, signal.SIGKILL)
        return stragglers

    def promote_standby(self, timeout=60):
        """Promotes the standby and returns once it accepts writes."""
        self._run([f"{BIN}/pg_ctl", "-D", self.second.data, "-w", "-t", str(timeout), "promote"])
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.psql("SELECT pg_is_in_recovery()", node=self.second) == [["f"]]:
                self.primary = self.second
                return
            time.sleep(0.05)
        raise TimeoutError("standby still in recovery after promotion")

    def stop_standby(self, relax_sync=True, timeout=30):
        """Stops the standby (pg_ctl -m fast) and leaves the primary up. With
        `relax_sync` the primary first stops naming it in
        synchronous_standby_names: else every commit would wait until a
        standby came back."""
        standby = self.second if self.primary is self.first else self.first
        if relax_sync:
            self.psql("ALTER SYSTEM RESET synchronous_standby_names", dbname="postgres")
            self.psql("SELECT pg_reload_conf()", dbname="postgres")
            # The reload is a signal: wait until a new session sees it.
            deadline = time.time() + timeout
            while self.psql("SHOW synchronous_standby_names", dbname="postgres") != []:
                if time.time() > deadline:
                    raise TimeoutError("the primary still names a synchronous standby")
                time.sleep(0.05)
        self._run([f"{BIN}/pg_ctl", "-D", standby.data, "-m", "fast", "-w", "-t", str(timeout), "stop"],
                  timeout=timeout + 10)

    def logs(self):
        return "\n".join(f"--- {n.name} ---\n{n.log()}" for n in self.nodes)

    # -- tear-down --

    def stop(self):
        for node in self.nodes:
            if node.pid and not node.killed and _alive(node.pid):
                subprocess.run(_as_postgres([f"{BIN}/pg_ctl", "-D", node.data, "-m", "immediate", "-w", "-t", "20",
                                             "stop"]), capture_output=True, timeout=30)
            # Whatever pg_ctl left (or a start that failed half-way).
            if node.pid:
                for pid in [node.pid, *_children(node.pid)]:
                    if _alive(pid):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
