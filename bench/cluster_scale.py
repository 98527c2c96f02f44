#!/usr/bin/python3
"""Many connections over several nodes (not a test): stet nodes on one
PostgreSQL and a six-process Redis Cluster (three masters, three replicas),
one load generator process per node (a process may hold 20,000 descriptors
here). Each connection joins one of DOCS documents (4 editors each, all on
the same node, so a document's owner is usually another node and its edits
travel over the Redis shard of its slot) and edits once every 10 s.

Reports the time until every connection had joined, server memory per
connection (the nodes' RSS once all joined, less before, over the
connections), edit-to-delivery latency, the nodes' CPU, and how the
publications spread over the Redis masters.

    pg_virtualenv -t -- env STET_TEST_POSTGRES=1 bench/cluster_scale.py --profile full   # 6 nodes, 100,000 connections
    pg_virtualenv -t -- env STET_TEST_POSTGRES=1 bench/cluster_scale.py --profile smoke  # 3 nodes, 2,400
Writes bench/results/cluster_scale.json (or into --out).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from runner.harness import LOADGEN, RESULTS, Stet  # noqa: E402
from redis_cluster_support import ShardedRedis  # noqa: E402
from stet_harness import psql  # noqa: E402

PROFILES = {
    "full": {"nodes": 6, "docs": 25000, "duration": 30, "warmup": 10},
    "smoke": {"nodes": 3, "docs": 600, "duration": 5, "warmup": 3},
}
EDITORS = 4
RATE = 0.1  # edits per second per connection: one every 10 s (--rate)


def run_loadgen(node, i, docs, duration, warmup, out, rate):
    """One load generator against `node`; its JSON result and marks (s since
    start) land in out[i]. Connections come from 16 loopback addresses: a
    bound source address takes the kernel longer to find a free port the
    fuller its range is (100,000 connections from 4 addresses spent 80% of
    both cores in the kernel)."""
    argv = [LOADGEN, "--port", str(node.port), "--docs", str(docs), "--conns-per-doc", str(EDITORS),
            "--writers-per-doc", str(EDITORS), "--rate", str(rate), "--edit-bytes", "50", "--duration", str(duration),
            "--warmup", str(warmup), "--sources", "16", "--doc-prefix", f"scale{i}", "--policy", "lww"]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, marks = [], {}
    out[i] = {"returncode": None, "marks": marks, "result": None}
    reader = threading.Thread(target=lambda: stdout.append(p.stdout.read()))
    reader.start()
    for line in p.stderr:
        name = line.rsplit(" ", 1)[0].strip()
        if name in ("joined", "measure start", "measure end"):
            marks[name] = time.monotonic() - t0
        else:
            sys.stderr.write(f"[loadgen {i}] {line}")
    p.wait()
    reader.join()
    out[i].update(returncode=p.returncode, result=json.loads(stdout[0]) if p.returncode == 0 else None)


def rss_kb(node):
    return node.status_kb("VmRSS")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=PROFILES, default="smoke")
    ap.add_argument("--docs", type=int, help="documents in all (4 connections each)")
    ap.add_argument("--nodes", type=int)
    ap.add_argument("--out", default=RESULTS, help="folder for cluster_scale.json")
    ap.add_argument("--rate", type=float, default=RATE, help="edits per second per connection")
    args = ap.parse_args()
    prof = dict(PROFILES[args.profile])
    if args.docs:
        prof["docs"] = args.docs
    if args.nodes:
        prof["nodes"] = args.nodes
    n, docs = prof["nodes"], prof["docs"]
    if docs * EDITORS / n > 19000:
        sys.exit(f"{docs * EDITORS // n} connections per load generator: over this machine's 20,000 descriptors")
    db = f"stet_scale_{os.getpid()}"
    psql(f"CREATE DATABASE {db}")
    nodes = []
    with ShardedRedis() as rc:
        try:
            for k in range(n):
                # Nodes, Redis, PostgreSQL and the load share both cores:
                # six servers cannot be "per server core" on two.
                # A join waits for its document's access read: 25,000
                # documents opening at once queue on the storage actors.
                nodes.append(Stet("--postgres", f"dbname={db}", "--redis-cluster", rc.seeds(), "--node-id",
                                  f"n{k + 1}", "--storage-connections", "8", name=f"n{k + 1}", cpus="0,1"))
            deadline = time.time() + 60
            while time.time() < deadline:
                if all(int(s.metric("stet_cluster_nodes") or 0) == n for s in nodes):
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError("the nodes did not all see each other within 60 s")
            before = {s.name: rss_kb(s) for s in nodes}
            cpu0 = {s.name: s.cpu_seconds() for s in nodes}
            spublish0 = rc.spublish_counts()
            out = {}
            per = docs // n
            threads = [threading.Thread(target=run_loadgen, args=(s, i, per, prof["duration"], prof["warmup"], out, args.rate))
                       for i, s in enumerate(nodes)]
            t_start = time.monotonic()
            for t in threads:
                t.start()
            # Memory once every connection has joined (before the edits grow histories).
            while any(t.is_alive() for t in threads):
                if all("joined" in out.get(i, {}).get("marks", {}) for i in range(n)):
                    break
                time.sleep(0.2)
            joined_rss = {s.name: rss_kb(s) for s in nodes}
            for t in threads:
                t.join()
            wall = time.monotonic() - t_start
            cpu = {s.name: s.cpu_seconds() - cpu0[s.name] for s in nodes}
            spublish = {port: c - spublish0.get(port, 0) for port, c in rc.spublish_counts().items()}
            failed = [i for i in range(n) if not out.get(i) or out[i]["returncode"] != 0]
            if failed:
                raise RuntimeError(f"load generators {failed} failed")
            results = [out[i]["result"] for i in range(n)]
            connections = sum(r["connections"] for r in results)
            p50s = sorted(r["delivery_latency"]["p50_ms"] for r in results)
            summary = {
                "profile": args.profile, "nodes": n, "documents": per * n, "connections": connections,
                "edits_per_connection_per_second": args.rate,
                "edits_sent": sum(r["sent"] for r in results), "edits_acked": sum(r["acked"] for r in results),
                "connect_seconds_all": max(out[i]["marks"].get("joined", 0) for i in range(n)),
                "connect_seconds_per_generator": [round(r["connect_seconds"], 2) for r in results],
                "server_rss_mb": {k: round(v / 1024, 1) for k, v in joined_rss.items()},
                "server_kib_per_connection": round(sum(joined_rss[k] - before[k] for k in before) / connections, 2),
                "deliveries": sum(r["deliveries"] for r in results),
                "deliveries_per_second": round(sum(r["deliveries"] / r["seconds"] for r in results if r["seconds"]), 1),
                "delivery_p50_ms_median": p50s[len(p50s) // 2],
                "delivery_p99_ms_worst": max(r["delivery_latency"]["p99_ms"] for r in results),
                "ack_p99_ms_worst": max(r["ack_latency"]["p99_ms"] for r in results),
                "server_cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
                "wall_seconds": round(wall, 1),
                "spublish_per_master": spublish,
                "generators": results,
            }
        finally:
            for s in nodes:
                s.stop()
            psql(f"DROP DATABASE IF EXISTS {db}")
    os.makedirs(args.out, exist_ok=True)
    name = "cluster_scale.json" if args.rate == RATE else f"cluster_scale_rate{args.rate:g}.json"
    with open(os.path.join(args.out, name), "w") as f:
        json.dump(summary, f, indent=2)
    brief = {k: v for k, v in summary.items() if k != "generators"}
    print(json.dumps(brief, indent=2))


if __name__ == "__main__":
    main()
