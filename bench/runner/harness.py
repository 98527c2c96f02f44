"""What every scenario uses: the servers under test (stet, the peers),
pinned to the server core with their CPU and memory read from /proc, the
load generator on the other core, Redis. PostgreSQL comes from the
integration tests' harness (pg_virtualenv's cluster)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "integration"))
from stet_harness import BINARY as STET, REPO, http_ok, psql  # noqa: E402,F401

LOADGEN = os.environ.get("STET_LOADGEN", os.path.join(REPO, "build", "bench", "stet_loadgen"))
CORE_BENCH = os.path.join(REPO, "build", "bench", "stet_core_bench")
FLOOR = os.path.join(REPO, "build", "bench", "stet_loopback_floor")
BUS_BENCH = os.path.join(REPO, "build", "bench", "stet_redis_publish_bench")
PEERS = os.path.join(REPO, "bench", "peers")
# The public editing traces where given, else the build's generated ones.
TRACES = os.path.join(os.environ.get("STET_TRACES_DIR") or os.path.join(REPO, "build", "traces"), "sequential")
RESULTS = os.path.join(REPO, "bench", "results")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CORE, LOAD_CORE = "0", "1"
PROFILE = {"name": "full"}  # set by run.py's main()
STORM_RATE = float(os.environ.get("STORM_RATE", "0.1"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(*prefix):
    """A redis-server on a free loopback port: (process, port). A port that
    was free a moment ago can be taken before Redis binds it (after the
    storm, tens of thousands of loopback connections come and go), so a
    Redis that exits is started again on another port."""
    for _ in range(5):
        port = free_port()
        proc = subprocess.Popen([*prefix, "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.time() + 10
        while proc.poll() is None and not tcp_open(port) and time.time() < deadline:
            time.sleep(0.05)
        if proc.poll() is None and tcp_open(port):
            return proc, port
        proc.kill()
        proc.wait()
    raise RuntimeError("redis-server did not start (5 ports tried)")


class Process:
    """A server under test, pinned to SERVER_CORE, with /proc readings."""

    def __init__(self, argv, ready, cwd=None, env=None, name="server", cpus=SERVER_CORE):
        self.name = name
        self.log_path = tempfile.mktemp(prefix=f"bench-{name}-", suffix=".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["taskset", "-c", cpus, *argv], cwd=cwd, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not ready():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{name} did not start: {open(self.log_path).read()[-2000:]}")
            time.sleep(0.05)

    def cpu_seconds(self):
        """utime + stime of the process and its threads (and waited-for children)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / CLK_TCK

    def status_kb(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            m = re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.M)
        return int(m.group(1))

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def tcp_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Stet(Process):
    def __init__(self, *args, port=None, data=None, env=None, name="stet", cpus=SERVER_CORE):
        self.port = port or free_port()
        self.data = data or tempfile.mkdtemp(prefix="bench-stet-")
        argv = [STET, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", self.data, "--allow-anonymous",
                "--max-edits-per-second", "1000000", "--max-connections-per-ip", "1000000",
                "--max-documents-per-hour", "100000000", "--max-joins-per-second", "1000000",
                "--max-doc-bytes", str(64 << 20), *args]
        # Cluster nodes seal their bus messages under a shared key.
        env = {**os.environ, "STET_CLUSTER_SECRET": "bench-cluster-key-of-at-least-32-bytes", **(env or {})}
        super().__init__(argv, lambda: http_ok(self.port), env=env, name=name, cpus=cpus)

    def metric(self, name):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics") as r:
            m = re.search(rf"^{re.escape(name)} (\S+)$", r.read().decode(), re.M)
        return float(m.group(1)) if m else 0.0

    def text(self, doc):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/documents/{doc}") as r:
            return json.loads(r.read())["text"]


class Peer(Process):
    def __init__(self, kind):
        self.port = free_port()
        script = os.path.join(PEERS, f"{kind}.mjs")
        super().__init__(["node", script, str(self.port)], lambda: tcp_open(self.port), cwd=PEERS, name=kind)


def loadgen(server, *args, on_mark=None, timeout=900):
    """Runs stet_loadgen on LOAD_CORE against `server`; returns its JSON
    result plus the server's CPU-seconds over the measured window."""
    argv = ["taskset", "-c", LOAD_CORE, LOADGEN, "--port", str(server.port), *map(str, args)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # stdout (the result, large in storm mode) drains on its own thread, so
    # a full pipe cannot block the load generator while we follow stderr.
    stdout = []
    reader = threading.Thread(target=lambda: stdout.append(p.stdout.read()))
    reader.start()
    marks, cpu, wire = {}, {}, {}
    for line in p.stderr:
        m = re.match(r"^(measure start|measure end|joined|all resynced|resynced \d+%|stampede start|stampede end) (\d+)$", line)
        if not m:
            sys.stderr.write(line)
            continue
        marks[m.group(1)] = int(m.group(2))
        if m.group(1) in ("measure start", "measure end"):
            cpu[m.group(1)] = server.cpu_seconds()
            wire[m.group(1)] = loopback_bytes()
        if on_mark:
            on_mark(m.group(1))
    p.wait(timeout=timeout)
    reader.join()
    if p.returncode != 0:
        raise RuntimeError(f"loadgen failed ({p.returncode})")
    result = json.loads(stdout[0])
    # Latency is attributed by the writer's tag in each edit's text. A
    # saturated server may deliver nothing that was due inside the window;
    # the smoke profile never saturates, so there it means the attribution
    # broke.
    if PROFILE["name"] == "smoke" and result.get("deliveries") and result.get("writers") \
            and not {"--trace", "--storm"} & set(map(str, args)) and not result.get("delivery_latency", {}).get("count"):
        raise RuntimeError("the load generator attributed no delivery to its writer: latency not measured")
    if "measure start" in cpu and "measure end" in cpu:
        result["server_cpu_seconds"] = cpu["measure end"] - cpu["measure start"]
        if result.get("deliveries"):
            result["server_cpu_s_per_million_deliveries"] = result["server_cpu_seconds"] / result["deliveries"] * 1e6
    if "measure start" in wire and "measure end" in wire:
        result["loopback_bytes"] = wire["measure end"] - wire["measure start"]
        if result.get("deliveries"):
            result["loopback_bytes_per_delivery"] = result["loopback_bytes"] / result["deliveries"]
    result["marks"] = marks
    return result


def loopback_bytes():
    """Bytes the loopback interface carried so far (both directions, since
    every byte sent on it is also received; TCP/IP headers included): the
    wire cost of a run whose traffic is all between local processes."""
    with open("/proc/net/dev") as f:
        for line in f:
            name, _, counters = line.partition(":")
            if name.strip() == "lo":
                return int(counters.split()[0])
    return 0


def node_driver(peer_kind, port, *args):
    argv = ["taskset", "-c", LOAD_CORE, "node", os.path.join(PEERS, "driver.mjs"), peer_kind, str(port), *map(str, args)]
    p = subprocess.run(argv, capture_output=True, text=True, cwd=PEERS, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"driver failed: {p.stderr[-2000:]}")
    return p


def postgres_ready():
    """Inside pg_virtualenv (or with PG* pointing at a server)."""
    import shutil
    return os.environ.get("PGPORT") is not None and shutil.which("psql") is not None


def create_database(name):
    psql(f"DROP DATABASE IF EXISTS {name}")
    psql(f"CREATE DATABASE {name}")


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": os.uname().release,
            "server_core": SERVER_CORE, "loadgen_core": LOAD_CORE}
