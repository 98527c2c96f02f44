#!/usr/bin/python3
"""stet's scenario runner: starts the servers each scenario needs (stet, or
the peers Hocuspocus and y-websocket), pins the server to core 0 and the load
generator to core 1 (`taskset`), reads the server's CPU-seconds and peak RSS
from /proc over the measured window, and writes bench/results/<scenario>.json
plus an SVG chart per scenario.

    bench/run.py --profile smoke     # CI: checks the harness, asserts nothing about speed
    bench/run.py --profile full      # the README's figures (about 10 minutes)
    bench/run.py --profile full hot peers   # only some scenarios

Needs build/stet and build/bench/stet_loadgen (scripts/build.sh); the peers
scenario needs bench/peers/node_modules (npm ci there) and PostgreSQL/Redis
scenarios need pg_virtualenv's environment and redis-server (they are
skipped, with a note in the results, when those are missing).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STET = os.environ.get("STET_BINARY", os.path.join(REPO, "build", "stet"))
LOADGEN = os.path.join(REPO, "build", "bench", "stet_loadgen")
CORE_BENCH = os.path.join(REPO, "build", "bench", "stet_core_bench")
FLOOR = os.path.join(REPO, "build", "bench", "stet_loopback_floor")
BUS_BENCH = os.path.join(REPO, "build", "bench", "stet_redis_publish_bench")
PEERS = os.path.join(REPO, "bench", "peers")
# The public editing traces where given, else the build's generated ones.
TRACES = os.path.join(os.environ.get("STET_TRACES_DIR") or os.path.join(REPO, "build", "traces"), "sequential")
RESULTS = os.path.join(REPO, "bench", "results")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CORE, LOAD_CORE = "0", "1"
PROFILE = "full"  # set by main()
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

    def __init__(self, argv, ready, cwd=None, env=None, name="server"):
        self.name = name
        self.log_path = tempfile.mktemp(prefix=f"bench-{name}-", suffix=".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, *argv], cwd=cwd, env=env, stdout=self.log,
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


def http_ok(port, path="/healthz"):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def tcp_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Stet(Process):
    def __init__(self, *args, port=None, data=None, env=None, name="stet"):
        self.port = port or free_port()
        self.data = data or tempfile.mkdtemp(prefix="bench-stet-")
        argv = [STET, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", self.data, "--allow-anonymous",
                "--max-edits-per-second", "1000000", "--max-connections-per-ip", "1000000",
                "--max-documents-per-hour", "100000000", "--max-joins-per-second", "1000000",
                "--max-doc-bytes", str(64 << 20), *args]
        # Cluster nodes seal their bus messages under a shared key.
        env = {**os.environ, "STET_CLUSTER_SECRET": "bench-cluster-key-of-at-least-32-bytes", **(env or {})}
        super().__init__(argv, lambda: http_ok(self.port), env=env, name=name)

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
    marks, cpu = {}, {}
    for line in p.stderr:
        m = re.match(r"^(measure start|measure end|joined|all resynced|resynced \d+%|stampede start|stampede end) (\d+)$", line)
        if not m:
            sys.stderr.write(line)
            continue
        marks[m.group(1)] = int(m.group(2))
        if m.group(1) in ("measure start", "measure end"):
            cpu[m.group(1)] = server.cpu_seconds()
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
    if PROFILE == "smoke" and result.get("deliveries") and result.get("writers") \
            and not {"--trace", "--storm"} & set(map(str, args)) and not result.get("delivery_latency", {}).get("count"):
        raise RuntimeError("the load generator attributed no delivery to its writer: latency not measured")
    if "measure start" in cpu and "measure end" in cpu:
        result["server_cpu_seconds"] = cpu["measure end"] - cpu["measure start"]
        if result.get("deliveries"):
            result["server_cpu_s_per_million_deliveries"] = result["server_cpu_seconds"] / result["deliveries"] * 1e6
    result["marks"] = marks
    return result


def node_driver(peer_kind, port, *args):
    argv = ["taskset", "-c", LOAD_CORE, "node", os.path.join(PEERS, "driver.mjs"), peer_kind, str(port), *map(str, args)]
    p = subprocess.run(argv, capture_output=True, text=True, cwd=PEERS, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"driver failed: {p.stderr[-2000:]}")
    return p


# -- SVG charts -------------------------------------------------------------

def bar_chart(path, title, categories, series, unit):
    """Grouped bars: one group per category, one bar per series."""
    colours = ["#3b6fb6", "#d9822b", "#4a9b5f", "#b64a4a", "#7f5fb6"]
    width, height, left, bottom, top = 760, 360, 70, 60, 40
    plot_w, plot_h = width - left - 20, height - top - bottom
    peak = max([v for vals in series.values() for v in vals if v is not None] + [1e-9]) * 1.15
    group_w = plot_w / max(1, len(categories))
    bar_w = group_w * 0.8 / max(1, len(series))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>']
    for i in range(6):
        y = top + plot_h - plot_h * i / 5
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y}" y2="{y}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{peak * i / 5:.3g}</text>')
    out.append(f'<text x="16" y="{top + plot_h / 2}" transform="rotate(-90 16 {top + plot_h / 2})" '
               f'text-anchor="middle">{unit}</text>')
    for gi, cat in enumerate(categories):
        gx = left + gi * group_w + group_w * 0.1
        for si, (name, vals) in enumerate(series.items()):
            v = vals[gi]
            if v is None:
                continue
            h = plot_h * v / peak
            x = gx + si * bar_w
            out.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                       f'fill="{colours[si % len(colours)]}"><title>{name}: {v:.4g}</title></rect>')
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - h - 3:.1f}" text-anchor="middle" '
                       f'font-size="10">{v:.3g}</text>')
        out.append(f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{top + plot_h + 16}" '
                   f'text-anchor="middle">{cat}</text>')
    for si, name in enumerate(series):
        x = left + si * 170
        out.append(f'<rect x="{x}" y="{height - 22}" width="12" height="12" fill="{colours[si % len(colours)]}"/>')
        out.append(f'<text x="{x + 16}" y="{height - 12}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


# -- scenarios --------------------------------------------------------------

def scenario_hot(profile):
    """1. One hot document, N editors (10 writers), 200-byte edits, durable
    on SQLite. Rates climb until the server (or the load generator) cannot
    keep up; the N = 100, 10 writers x 10 edits/s point is the latency target."""
    sizes = [10, 100] if profile == "smoke" else [10, 100, 1000]
    ladders = {10: [10, 400, 1600], 100: [10, 40, 160, 400], 1000: [1, 10, 40]} if profile == "full" else \
        {10: [10], 100: [10]}
    duration = 2 if profile == "smoke" else 8
    rows = []
    for n in sizes:
        for rate in ladders[n]:
            with_server = Stet()
            try:
                r = loadgen(with_server, "--docs", 1, "--conns-per-doc", n, "--writers-per-doc", min(10, n),
                            "--rate", rate, "--edit-bytes", 200, "--duration", duration, "--warmup", 1,
                            "--sources", 4)
                r.update(editors=n, writers=min(10, n), rate_per_writer=rate,
                         offered_deliveries_per_second=min(10, n) * rate * (n - 1),
                         server_peak_rss_mb=with_server.status_kb("VmHWM") / 1024)
                rows.append(r)
            finally:
                with_server.stop()
    chart = [r for r in rows if r["rate_per_writer"] == max(x["rate_per_writer"] for x in rows
                                                             if x["editors"] == r["editors"])]
    return rows, ("Hot document: deliveries/s at the highest rate tried",
                  [f"N={r['editors']}" for r in chart],
                  {"deliveries/s": [r["deliveries_per_second"] for r in chart],
                   "per server CPU-second": [1e6 / r["server_cpu_s_per_million_deliveries"]
                                              if r.get("server_cpu_s_per_million_deliveries") else None
                                              for r in chart]}, "deliveries per second")


def scenario_many_docs(profile):
    """2. Many documents x 4 editors, one edit per 200 ms each; then idle
    connections (joined, silent) for memory per connection."""
    docs = 50 if profile == "smoke" else 4900  # 4 x 4900 = 19,600: this machine caps a process at 20,000 fds
    idle = 500 if profile == "smoke" else 19500
    rows = []
    # The target's rate (an edit per 200 ms each) and, to show where the
    # server stands, one a fifth of it.
    for rate in ([5] if profile == "smoke" else [1, 5]):
        s = Stet()
        try:
            r = loadgen(s, "--docs", docs, "--conns-per-doc", 4, "--writers-per-doc", 4, "--rate", rate,
                        "--edit-bytes", 50, "--duration", 2 if profile == "smoke" else 10, "--warmup", 2,
                        "--sources", 4)
            r.update(docs=docs, editors=docs * 4, rate_per_editor=rate, offered_edits_per_second=docs * 4 * rate,
                     server_peak_rss_mb=s.status_kb("VmHWM") / 1024)
            rows.append(r)
        finally:
            s.stop()
    s = Stet()
    try:
        before = s.status_kb("VmRSS")
        readings = {}

        def at_mark(name):
            if name == "measure start":
                readings["rss"] = s.status_kb("VmRSS")

        idle_r = loadgen(s, "--docs", idle // 10, "--conns-per-doc", 10, "--writers-per-doc", 0, "--rate", 0,
                         "--hold", 2, "--sources", 4, on_mark=at_mark)
        idle_r.update(connections=idle, rss_before_kb=before, rss_connected_kb=readings["rss"],
                      kib_per_connection=(readings["rss"] - before) / idle)
    finally:
        s.stop()
    chart = {f"{r['rate_per_editor']} edit/s each": [r["delivery_latency"]["p50_ms"], r["delivery_latency"]["p99_ms"],
                                                   r["delivery_latency"]["p999_ms"]] for r in rows}
    rows.append(idle_r)
    return rows, (f"Many documents ({docs} x 4 editors): edit-to-delivery latency", ["p50", "p99", "p99.9"], chart,
                  "milliseconds")


def scenario_join(profile):
    """3. Joining a 1 MB document warm (open) and cold (from storage), and a
    stampede of simultaneous cold joiners (must cost one storage read)."""
    s = Stet("--idle-timeout-ms", "300")
    try:
        loads = {}

        def at_mark(name):
            if name in ("stampede start", "stampede end"):
                loads[name] = s.metric("stet_document_loads_total")

        r = loadgen(s, "--docs", 3 if profile == "smoke" else 20, "--join-bytes", 1 << 20, "--stampede", 100,
                    on_mark=at_mark)
        r["stampede_storage_reads"] = loads["stampede end"] - loads["stampede start"]
    finally:
        s.stop()
    return [r], ("Join a 1 MB document", ["p50", "p99"],
                 {"warm": [r["warm"]["p50_ms"], r["warm"]["p99_ms"]],
                  "cold": [r["cold"]["p50_ms"], r["cold"]["p99_ms"]]}, "milliseconds")


def scenario_storm(profile):
    """4. Reconnect storm: every client writes unique markers; the server is
    SIGKILLed mid-run and restarted; all clients resync and every acked
    edit is in the text exactly once. Two steady loads: light (0.02 edits/s
    per client, about a fifth of a core) and near the one core's capacity
    (0.1 edits/s: 1,900 edits/s fanned out to 19 others each, ~90% busy
    before the kill), where the backlog drains through little headroom."""
    clients = 200 if profile == "smoke" else 19000
    rates = [STORM_RATE] if profile == "smoke" else [0.02, STORM_RATE]
    rows = [storm_once(clients, rate, profile) for rate in rates]
    return rows, ("Reconnect storm: all clients resynced after the restart",
                  [f"{r['rate_per_client']} edits/s per client" for r in rows],
                  {"seconds": [r["resync_seconds_after_restart"] for r in rows]}, "seconds")


def storm_once(clients, rate, profile):
    per_doc = 20
    port = free_port()
    data = tempfile.mkdtemp(prefix="bench-storm-")
    box = {"server": Stet(port=port, data=data)}
    restarted = {}

    def at_mark(name):
        if name == "measure start":
            time.sleep(1.0)
            box["server"].stop(signal.SIGKILL)
            time.sleep(0.5)
            box["server"] = Stet(port=port, data=data)
            restarted["at"] = time.monotonic_ns()

    class Current:  # whichever process is the server now
        port = box["server"].port

        def cpu_seconds(self):
            return box["server"].cpu_seconds()

    try:
        r = loadgen(Current(), "--docs", clients // per_doc, "--conns-per-doc", per_doc, "--writers-per-doc",
                    per_doc, "--rate", rate, "--duration", 6 if profile == "smoke" else 10, "--warmup", 1,
                    "--storm", "--sources", 4, on_mark=at_mark)
        server = box["server"]
        lost = doubled = 0
        for d in range(clients // per_doc):
            text = server.text(f"bench-{d}")
            counts = {}
            for m in re.findall(r"<(w\d+-\d+-\d+\.\d+)>", text):
                counts[m] = counts.get(m, 0) + 1
            doubled += sum(1 for c in counts.values() if c > 1)
            for cid, acked in r["acked_by_client"].items():
                if int(cid.split("-")[1]) // per_doc != d:
                    continue
                lost += sum(1 for seq in range(1, acked + 1) if f"{cid}.{seq}" not in counts)
        def after_restart(mark):
            return (r["marks"][mark] - restarted["at"]) / 1e9 if mark in r["marks"] else None
        resync_s = after_restart("all resynced")
        r["resync_seconds_half"], r["resync_seconds_90pct"] = after_restart("resynced 50%"), after_restart("resynced 90%")
        r.update(clients=clients, rate_per_client=rate, acked_edits=sum(r["acked_by_client"].values()), lost=lost,
                 doubled=doubled, resync_seconds_after_restart=resync_s)
        del r["acked_by_client"]
        for k in ("server_cpu_seconds", "server_cpu_s_per_million_deliveries"):  # two processes: meaningless
            r.pop(k, None)
    finally:
        box["server"].stop()
    return r


def postgres_ready():
    return os.environ.get("PGPORT") is not None and shutil.which("psql")


def scenario_persistence(profile):
    """6. Durable edits through group commit: 64 writers, each on its own
    document, open loop; SQLite and (inside pg_virtualenv) PostgreSQL."""
    rows = []
    # 320 per writer: 20,480 edits/s, the target's ">= 20k" (300 fell short of it).
    rates = [50] if profile == "smoke" else [100, 200, 320, 400]
    backends = ["sqlite"] + (["postgres"] if postgres_ready() else [])
    for backend in backends:
        for rate in rates:
            args = []
            if backend == "postgres":
                db = f"bench_{os.getpid()}_{rate}"
                subprocess.run(["psql", "-q", "-c", f"DROP DATABASE IF EXISTS {db}"], check=True)
                subprocess.run(["psql", "-q", "-c", f"CREATE DATABASE {db}"], check=True)
                args = ["--postgres", f"dbname={db}"]
            s = Stet(*args)
            try:
                r = loadgen(s, "--docs", 64, "--conns-per-doc", 1, "--writers-per-doc", 1, "--rate", rate,
                            "--edit-bytes", 50, "--duration", 2 if profile == "smoke" else 8, "--warmup", 1)
                r.update(backend=backend, offered_edits_per_second=64 * rate,
                         commits=s.metric("stet_storage_commit_seconds_count"))
                rows.append(r)
            finally:
                s.stop()
    return rows, ("Durable edits (64 writers, open loop): ack p99", [f"{r['backend']} {r['offered_edits_per_second']}/s"
                                                                       for r in rows],
                  {"ack p99 ms": [r["ack_latency"]["p99_ms"] for r in rows]}, "milliseconds")


def scenario_core(profile):
    """7. The core alone (Google Benchmark over every sequential trace) and
    automerge-paper over one WebSocket, durable."""
    rows = []
    out = subprocess.run(["taskset", "-c", SERVER_CORE, CORE_BENCH, "--benchmark_format=json",
                          f"--benchmark_min_time={'0.01' if profile == 'smoke' else '0.5'}"], capture_output=True,
                         text=True, check=True).stdout
    for b in json.loads(out)["benchmarks"]:
        rows.append({"benchmark": b["name"], "ms": b["real_time"] / 1e6 if b["time_unit"] == "ns" else b["real_time"],
                     "time_unit": b["time_unit"], "raw_real_time": b["real_time"]})
    name = "automerge-paper" if os.path.exists(os.path.join(TRACES, "automerge-paper.json.gz")) else "generated-long"
    trace = os.path.join(TRACES, name + ".json.gz")
    s = Stet()
    try:
        r = loadgen(s, "--trace", trace, "--window", 1000, "--doc-prefix", "trace")
        r.update(trace=name, server_peak_rss_mb=s.status_kb("VmHWM") / 1024)
        rows.append(r)
    finally:
        s.stop()
    core = [r for r in rows if "benchmark" in r]
    return rows, ("Core: trace replay time", [r["benchmark"].split("/")[-1][:18] for r in core],
                  {"ms": [r["ms"] for r in core]}, "milliseconds")


def scenario_cross_node(profile):
    """5. Cross-node: two nodes (PostgreSQL + Redis); one writer on the
    document's owner; readers on the owner vs on the other node."""
    if not postgres_ready() or not shutil.which("redis-server"):
        return [{"skipped": "needs pg_virtualenv and redis-server"}], None
    redis, rport = start_redis()
    db = f"bench_x_{os.getpid()}"
    subprocess.run(["psql", "-q", "-c", f"DROP DATABASE IF EXISTS {db}"], check=True)
    subprocess.run(["psql", "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    nodes = []
    try:
        for name in ("a", "b"):
            nodes.append(Stet("--postgres", f"dbname={db}", "--redis", f"redis://127.0.0.1:{rport}", "--node-id",
                              name, name=name))
        deadline = time.time() + 20
        while not all(http_ok(n.port, "/readyz") and n.metric("stet_cluster_nodes") == 2 for n in nodes):
            assert time.time() < deadline, "cluster did not settle"
            time.sleep(0.1)
        a, b = nodes
        rows = []
        # Both nodes share core 0 (the load generator has core 1). Same
        # document on every run; which node owns it decides same vs cross.
        for rate in ([20] if profile == "smoke" else [10, 100, 1000]):
            for reader_node, label in ((a, "via a"), (b, "via b")):
                other = b if reader_node is a else a
                published = reader_node.metric("stet_redis_publish_seconds_count")
                published_other = other.metric("stet_redis_publish_seconds_count")
                r = loadgen(reader_node, "--docs", 1, "--conns-per-doc", 11, "--writers-per-doc", 10, "--rate",
                            rate, "--edit-bytes", 50, "--duration", 2 if profile == "smoke" else 5, "--warmup", 1,
                            "--doc-prefix", "xnode")
                r.update(node=label, rate_per_writer=rate, owned_here=reader_node.metric("stet_open_documents") > 0,
                         redis_publishes=reader_node.metric("stet_redis_publish_seconds_count") - published,
                         redis_publishes_other_node=other.metric("stet_redis_publish_seconds_count")
                         - published_other)
                r["path"] = "same node" if r["owned_here"] else "cross node"
                rows.append(r)
    finally:
        for n in nodes:
            n.stop()
        redis.terminate()
        redis.wait()
        subprocess.run(["psql", "-q", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"])
    return rows, ("Cross-node delivery", [f"{r['path']} {r['rate_per_writer'] * 10}/s" for r in rows],
                  {"p50 ms": [r["delivery_latency"]["p50_ms"] for r in rows],
                   "p99 ms": [r["delivery_latency"]["p99_ms"] for r in rows]}, "milliseconds")


def scenario_peers(profile):
    """Side by side: the same hot-document workload (N = 100, 10 writers x
    10 edits/s, 200-byte edits) and many-documents workload against stet,
    Hocuspocus and y-websocket, all driven by bench/peers/driver.mjs."""
    if not os.path.isdir(os.path.join(PEERS, "node_modules")):
        return [{"skipped": "run `npm ci` in bench/peers first"}], None
    duration = 2 if profile == "smoke" else 10
    workloads = [("hot", ["--docs", 1, "--conns", 100, "--writers", 10, "--rate", 10]),
                 ("many", ["--docs", 50 if profile == "smoke" else 500, "--conns", 4, "--writers", 4, "--rate", 5])]
    rows = []
    for kind in ("stet", "hocuspocus", "y-websocket"):
        for wname, wargs in workloads:
            server = Stet() if kind == "stet" else Peer(kind)
            try:
                before = server.status_kb("VmRSS")
                cpu0 = server.cpu_seconds()
                p = node_driver(kind, server.port, *wargs, "--duration", duration, "--bytes", 200)
                cpu1 = server.cpu_seconds()
                r = json.loads(p.stdout.strip().splitlines()[-1])
                # The driver measures its own window; CPU is over the whole run
                # (connect + warm-up included) and so slightly pessimistic for all.
                r.update(server=kind, workload=wname, server_cpu_seconds=cpu1 - cpu0,
                         rss_before_kb=before, rss_after_kb=server.status_kb("VmRSS"),
                         server_peak_rss_mb=server.status_kb("VmHWM") / 1024)
                r["server_cpu_s_per_million_deliveries"] = (cpu1 - cpu0) / max(1, r["deliveries_total"]) * 1e6
                r["kib_per_connection"] = (r["rss_after_kb"] - before) / r["connections"]
                rows.append(r)
            finally:
                server.stop()
    hot = [r for r in rows if r["workload"] == "hot"]
    return rows, ("Hot document (N=100): server CPU-seconds per million deliveries", [r["server"] for r in hot],
                  {"CPU-s / M deliveries": [r["server_cpu_s_per_million_deliveries"] for r in hot]}, "CPU-seconds")


def scenario_bus(profile):
    """5b. The cluster bridge alone: Redis publishes per second one node's
    bridge sustains (open loop, 200-byte messages), to a real redis-server
    with a second bridge subscribed as another node would be. Publisher on
    the server core; Redis and the subscriber on the other."""
    if not shutil.which("redis-server"):
        return [{"skipped": "needs redis-server"}], None
    redis, rport = start_redis("taskset", "-c", LOAD_CORE)
    rows = []
    try:
        for rate in ([20000] if profile == "smoke" else [150000, 500000, 800000, 1200000]):
            out = subprocess.run([BUS_BENCH, "--port", str(rport), "--rate", str(rate), "--seconds",
                                  "1" if profile == "smoke" else "3", "--bytes", "200", "--publisher-core",
                                  SERVER_CORE, "--subscriber-core", LOAD_CORE],
                                 capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out))
    finally:
        redis.terminate()
        redis.wait()
    return rows, ("Redis publishes per second through one node's bridge", [f"{r['offered_per_second'] / 1000:.0f}k offered"
                                                                          for r in rows],
                  {"delivered/s": [r["delivered_per_second"] for r in rows]}, "publishes per second")


def scenario_floor(profile):
    """8. The kernel's floor: CPU-seconds per million sends of a 250-byte
    message on loopback TCP (one connection per client, a reader on the
    other core), with nothing else in the server. Paced as the hot
    target's fan-out (100 connections, 100 rounds/s = 10,000 sends/s) and
    unpaced (saturating the core)."""
    rows = []
    for rounds in (100, 0):
        out = subprocess.run([FLOOR, *map(str, ["--conns", 100, "--bytes", 250, "--rounds-per-second", rounds,
                              "--seconds", 1 if profile == "smoke" else 5, "--sender-core", SERVER_CORE,
                              "--reader-core", LOAD_CORE])], capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out))
    return rows, ("Kernel floor: CPU per million loopback sends", ["100 rounds/s", "as fast as possible"],
                  {"CPU-s per million sends": [r["cpu_s_per_million_sends"] for r in rows]}, "CPU-seconds")


SCENARIOS = {"hot": scenario_hot, "many": scenario_many_docs, "join": scenario_join, "storm": scenario_storm,
             "cross": scenario_cross_node, "bus": scenario_bus, "persistence": scenario_persistence, "core": scenario_core,
             "peers": scenario_peers, "floor": scenario_floor}


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": os.uname().release,
            "server_core": SERVER_CORE, "loadgen_core": LOAD_CORE}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=["smoke", "full"], default="smoke")
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    args = ap.parse_args()
    global PROFILE
    PROFILE = args.profile
    os.makedirs(args.out, exist_ok=True)
    failed = []
    for name in args.scenarios:
        t = time.time()
        print(f"== {name} ({args.profile})", flush=True)
        try:
            rows, chart = SCENARIOS[name](args.profile)
        except Exception as e:  # report and go on with the other scenarios
            print(f"   FAILED: {e}", flush=True)
            failed.append(name)
            continue
        doc = {"scenario": name, "profile": args.profile, "machine": machine(), "seconds": time.time() - t,
               "results": rows}
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(doc, f, indent=1)
        if chart:
            bar_chart(os.path.join(args.out, f"{name}.svg"), *chart)
        print(json.dumps(rows)[:1500], flush=True)
    if failed:
        print("failed scenarios: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
