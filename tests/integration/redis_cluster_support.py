"""A real Redis Cluster for the tests of stet's --redis-cluster: six
redis-server processes (three masters, one replica each) on free loopback
ports, formed by `redis-cli --cluster create`, in a temp folder of their own.
Sharded pub/sub (SPUBLISH), which stet's document channels use, needs Redis
7; Debian's 7.0 is what the suite runs. Named ShardedRedis because
redis_support.RedisCluster is a cluster of stet nodes.

    with ShardedRedis() as rc:
        rc.seeds()                 # "127.0.0.1:p1,...", what --redis-cluster takes
        port = rc.master_of("d1")  # the master serving stet:doc:d1
        rc.kill_master(port)       # returns the promoted replica's port
        rc.spublish_counts()       # {master port: SPUBLISH calls it served}

Every wait is bounded and raises TimeoutError with the nodes' log tails."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

MASTERS = 3
SLOTS = 16384


def available():
    """Whether redis-server 7 or later and redis-cli are installed."""
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        return False
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"v=(\d+)\.", out)
    return bool(m) and int(m.group(1)) >= 7


def free_ports(n):
    """n distinct free loopback ports (all held open at once while chosen,
    so none is handed out twice)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class ShardedRedis:
    """Three masters and three replicas. `node_timeout_ms` is
    cluster-node-timeout: how long a silent master goes before its replica
    takes over, kept short so kill_master returns in a few seconds (long
    enough that a node stalled by a build on the shared cores is not failed
    over by mistake). With `password`, every node has requirepass and
    masterauth (replicas must log in to their masters)."""

    def __init__(self, password=None, node_timeout_ms=1500):
        self.password, self.node_timeout_ms = password, node_timeout_ms
        self.dir = tempfile.mkdtemp(prefix="stet-redis-cluster-")
        ports = free_ports(4 * MASTERS)
        # The cluster bus port is set explicitly (cluster-port): the default,
        # port + 10000, may be taken or past 65535.
        self.ports = ports[:2 * MASTERS]
        self.bus_ports = dict(zip(self.ports, ports[2 * MASTERS:]))
        self.procs = {}

    # -- talking to one node --

    def cli(self, port, *args, timeout=5):
        """The raw reply lines of one command to 127.0.0.1:port (an error
        reply is a line too; [] when the node does not answer)."""
        auth = ["-a", self.password, "--no-auth-warning"] if self.password else []
        try:
            out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *auth, "--raw", *map(str, args)],
                                 capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return []
        return out.stdout.splitlines() if out.returncode == 0 else []

    def info(self, port, *args):
        """CLUSTER INFO (args=("CLUSTER", "INFO")) or INFO <section> as a dict."""
        lines = self.cli(port, *args)
        return dict(l.strip().split(":", 1) for l in lines if ":" in l and not l.startswith("#"))

    def alive(self):
        return [p for p in self.ports if self.procs.get(p) and self.procs[p].poll() is None]

    def nodes(self, port=None):
        """CLUSTER NODES as seen by `port` (default: the first live node
        that answers): [{id, port, flags, master, slots: [(lo, hi)]}]."""
        for p in [port] if port else self.alive():
            lines = self.cli(p, "CLUSTER", "NODES")
            if lines and not lines[0].startswith("ERR"):
                break
        else:
            return []
        out = []
        for line in lines:
            f = line.split()
            if len(f) < 8:
                continue
            slots = []
            for s in f[8:]:
                if s.startswith("["):
                    continue  # a slot being migrated or imported: not served here yet
                lo, _, hi = s.partition("-")
                slots.append((int(lo), int(hi or lo)))
            out.append({"id": f[0], "port": int(f[1].split("@")[0].rsplit(":", 1)[1]), "flags": set(f[2].split(",")),
                        "master": f[3], "slots": slots})
        return out

    # -- what tests use --

    def seeds(self):
        """What --redis-cluster takes: every node, masters and replicas."""
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def masters(self, port=None):
        """Ports of the masters that serve slots now (a failed one serves none)."""
        return sorted(n["port"] for n in self.nodes(port)
                      if "master" in n["flags"] and "fail" not in n["flags"] and n["slots"])

    def master_of(self, doc_id):
        """The port of the master serving document `doc_id`'s channels
        (stet:doc:<id>, and the relay channels tagged with that name)."""
        return self.master_of_key(f"stet:doc:{doc_id}")

    def master_of_key(self, key):
        """The port of the master serving the slot of `key` (CLUSTER KEYSLOT)."""
        reply = self.cli(self.alive()[0], "CLUSTER", "KEYSLOT", key)
        slot = int(reply[0])
        for n in self.nodes():
            if "master" in n["flags"] and "fail" not in n["flags"] and any(lo <= slot <= hi for lo, hi in n["slots"]):
                return n["port"]
        raise LookupError(f"no master serves slot {slot} ({key})")

    def spublish_counts(self):
        """{master port: SPUBLISH calls} from INFO commandstats: a replica
        counts none (the message reaches it over the cluster bus)."""
        out = {}
        for port in self.masters():
            m = re.search(r"cmdstat_spublish:calls=(\d+)", "\n".join(self.cli(port, "INFO", "commandstats")))
            out[port] = int(m.group(1)) if m else 0
        return out

    def kill_master(self, port, timeout=30):
        """SIGKILLs the master on `port`; returns the port of its replica
        once that replica is a master, every live node says cluster_state:ok
        with every slot served, and all of them agree on the masters."""
        victim = next(n for n in self.nodes() if n["port"] == port)
        assert "master" in victim["flags"], f"{port} is not a master: {victim['flags']}"
        replicas = [n["port"] for n in self.nodes() if n["master"] == victim["id"]]
        self.procs[port].send_signal(signal.SIGKILL)
        self.procs[port].wait()
        promoted = []

        def done():
            promoted[:] = [r for r in replicas if (self.cli(r, "ROLE") or [""])[0] == "master"]
            if not promoted:
                return False
            want = self.masters(promoted[0])
            return port not in want and promoted[0] in want and self._whole(want)

        self._wait(done, f"a replica of {port} ({replicas}) promoted and the cluster ok", timeout)
        return promoted[0]

    # -- life cycle --

    def start(self, timeout=60):
        for port in self.ports:
            self._spawn(port)
        self._wait(lambda: all(self.cli(p, "PING") == ["PONG"] for p in self.ports), "every node answers PING")
        auth = ["-a", self.password, "--no-auth-warning"] if self.password else []
        r = subprocess.run(["redis-cli", *auth, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                            "--cluster-replicas", "1", "--cluster-yes"],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed ({r.returncode}): {r.stdout}{r.stderr}")
        self._wait(lambda: self._whole(self.masters()), "the cluster formed", timeout)
        return self

    def _spawn(self, port):
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--save", "", "--appendonly", "no", "--loglevel", "notice",
                "--logfile", os.path.join(self.dir, f"redis-{port}.log"),
                "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-port", str(self.bus_ports[port]), "--cluster-node-timeout", str(self.node_timeout_ms)]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        self.procs[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _whole(self, masters):
        """Every live node: cluster_state ok, every slot served, the same
        MASTERS `masters`; every live replica in sync with its master (a
        replica that never synced would not be promoted)."""
        if len(masters) != MASTERS:
            return False
        for port in self.alive():
            ci = self.info(port, "CLUSTER", "INFO")
            if ci.get("cluster_state") != "ok" or ci.get("cluster_slots_ok") != str(SLOTS):
                return False
            if self.masters(port) != masters:
                return False
            if port not in masters and self.info(port, "INFO", "replication").get("master_link_status") != "up":
                return False
        return True

    def _wait(self, done, what, timeout=30):
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not after {timeout} s\n{self.log()}")
            time.sleep(0.1)

    def log(self, tail=1500):
        out = []
        for port in self.ports:
            path = os.path.join(self.dir, f"redis-{port}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out.append(f"--- redis {port}\n" + f.read()[-tail:])
        return "\n".join(out)

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
