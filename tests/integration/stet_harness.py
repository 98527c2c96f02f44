"""Drives real build/stet processes, redis-server and the PostgreSQL cluster
of the run, for the integration tests and the benchmarks. The WebSocket
client they use is in ws_client.py."""

import json
import os
import resource
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("STET_BINARY", os.path.join(REPO, "build", "stet"))
# The public editing traces where a run has them ($STET_TRACES_DIR), else the
# histories the build generated (tests/tools/make_traces.cpp).
TRACES = os.environ.get("STET_TRACES_DIR") or os.path.join(REPO, "build", "traces")


def longest_sequential_trace():
    """automerge-paper when the public traces are there, else the longest
    history in TRACES: (name, path)."""
    folder = os.path.join(TRACES, "sequential")
    preferred = os.path.join(folder, "automerge-paper.json.gz")
    if os.path.exists(preferred):
        return "automerge-paper", preferred
    files = sorted((os.path.getsize(os.path.join(folder, f)), f) for f in os.listdir(folder) if f.endswith(".json.gz"))
    name = files[-1][1]
    return name[:-len(".json.gz")], os.path.join(folder, name)


def postgres_available():
    return os.environ.get("STET_TEST_POSTGRES") == "1"


def psql(sql, dbname="postgres"):
    """Runs SQL through psql (PG* variables from pg_virtualenv); returns rows."""
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


def postgres_cluster():
    """(version, name) of the cluster on $PGPORT, for pg_ctlcluster."""
    for line in subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout.splitlines():
        version, name, port = line.split()[:3]
        if port == os.environ.get("PGPORT", "5432"):
            return version, name
    raise RuntimeError("no PostgreSQL cluster on $PGPORT")


def http_ok(port, path="/healthz"):
    """Whether 127.0.0.1:port answers GET path with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def fresh_database(prefix):
    """A new, empty database on the run's PostgreSQL, dropped afterwards (a
    generator for pytest fixtures)."""
    name = f"{prefix}_{int(time.time() * 1000)}"
    psql(f"CREATE DATABASE {name}")
    yield name
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Server:
    """One stet process on a free loopback port, with its own data folder
    that survives restarts of the process. With backend="postgres" it stores
    everything in a fresh PostgreSQL database instead of SQLite."""

    _databases = 0

    SECRET = "integration-test-secret-0123456789abcdef"
    CLUSTER_SECRET = "integration-test-cluster-key-0123456789abcdef"

    def __init__(self, *extra_args, data_dir=None, backend="sqlite", anonymous=True, database=None, fd_limit=None,
                 env=None):
        # Most tests speak as anonymous clients at full speed; the accounts
        # tests start a server that requires tokens.
        self.extra_args = (["--allow-anonymous", "--max-edits-per-second", "1000000", "--max-documents-per-hour",
                            "10000000", "--max-joins-per-second", "100000"] if anonymous else []) + list(extra_args)
        self.env = env or {}
        self.backend = backend
        self.database = None
        self.owns_database = False
        if backend == "postgres":
            if database is None:
                Server._databases += 1
                database = f"stet_it_{os.getpid()}_{Server._databases}"
                psql(f"DROP DATABASE IF EXISTS {database}")
                psql(f"CREATE DATABASE {database}")
                self.owns_database = True
            self.database = database
            self.extra_args += ["--postgres", f"dbname={self.database} connect_timeout=2"]
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="stet-it-")
        self.data_dir = data_dir or self._tmp.name
        self.fd_limit = fd_limit
        self.port = None
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    def start(self):
        listen = f"127.0.0.1:{self.port or 0}"
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [BINARY, "serve", "--listen", listen, "--data", self.data_dir, *self.extra_args],
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, "STET_AUTH_SECRET": self.SECRET,
                                                     "STET_CLUSTER_SECRET": self.CLUSTER_SECRET, **self.env},
            preexec_fn=self._limit_fds if self.fd_limit else None)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stet exited with {self.proc.returncode}: {self.log()}")
            for line in self.log().splitlines():
                if '"msg":"listening"' in line:
                    port = int(json.loads(line)["port"])
                    if self.port in (None, port):
                        self.port = port
                        if self._healthy():
                            return self
            time.sleep(0.05)
        raise RuntimeError("stet did not start: " + self.log())

    def _limit_fds(self):
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.fd_limit, self.fd_limit))

    def _healthy(self):
        return http_ok(self.port)

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._log.close()

    def restart(self):
        """SIGKILL, then start again on the same port and data."""
        self.kill9()
        # Keep the old log lines from matching the new process's port check.
        with open(self.log_path, "a") as f:
            f.write("--- restart ---\n")
        os.replace(self.log_path, self.log_path + ".old")
        return self.start()

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def get_document(self, doc_id):
        """(status, json body) of GET /api/documents/{id}."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/documents/{doc_id}", timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def metric(self, name, labels=""):
        """The value of one sample on /metrics, or None when absent."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.probe_port}/metrics", timeout=10) as r:
            m = re.search(rf"^{re.escape(name + labels)} (\S+)$", r.read().decode(), re.M)
        return float(m.group(1)) if m else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self._tmp:
            self._tmp.cleanup()
        if self.database and self.owns_database:
            psql(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")

    def http(self, method, path, body=None, token=None, headers=None):
        """(status, parsed JSON or None, response headers) of one request.
        `path` goes on the wire as given (no normalisation of "..")."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return r.status, parsed, dict(r.getheaders())

    def get_document_as(self, doc_id, token):
        status, body, _ = self.http("GET", f"/api/documents/{doc_id}", token=token)
        assert status == 200, body
        return body

    def register(self, username, password="correct horse battery"):
        return self.http("POST", "/api/register", {"username": username, "password": password})

    def login(self, username, password="correct horse battery"):
        status, body, _ = self.http("POST", "/api/login", {"username": username, "password": password})
        assert status == 200, body
        return body["token"]

    @property
    def operations_port(self):
        """The --metrics-listen port, as the node logged it."""
        line = next(json.loads(l) for l in self.log().splitlines() if '"msg":"listening"' in l)
        return int(line["metrics_port"])

    @property
    def probe_port(self):
        """Where /metrics and /readyz are served: the operations port when
        the node has one, else the public one."""
        return self.operations_port if "--metrics-listen" in self.extra_args else self.port

    def readyz(self):
        port = self.probe_port
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


class RedisServer:
    """A redis-server on a free loopback port, killable and restartable."""

    def __init__(self, password=None):
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.password = password
        self.proc = None

    def start(self):
        auth = ["--requirepass", self.password] if self.password else []
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--loglevel", "warning", *auth],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)
        return self

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    @property
    def url(self):
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}"

    def cli(self, *args):
        """Sends one command as any client that can reach this server would
        (arguments may be binary); returns the reply's first line."""
        import socket
        def bulk(a):
            a = a if isinstance(a, bytes) else str(a).encode()
            return b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            wire = b""
            if self.password:
                wire += b"*2\r\n" + bulk("AUTH") + bulk(self.password)
            wire += b"*%d\r\n" % len(args) + b"".join(bulk(a) for a in args)
            sock.sendall(wire)
            reply = b""
            while reply.count(b"\r\n") < (2 if self.password else 1):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
            return reply.split(b"\r\n")[-2]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.kill()


# The WebSocket client lives beside the harness; tests import both from here.
from ws_client import Client, apply_ops  # noqa: E402,F401
