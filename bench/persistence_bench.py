#!/usr/bin/python3
"""Durable-edit benchmark: N editors, each with one edit in flight (closed
loop), against build/stet on SQLite and on PostgreSQL. Reports edits/s,
the edit->ack latency the client sees, and the server's group-commit
transaction latency and batch size (from /metrics).

    bench/persistence_bench.py [--seconds 5] [--editors 1,8,64] [--docs shared|separate]

PostgreSQL runs need PG* variables (run inside `pg_virtualenv`). Writes
bench/results/persistence.json. A benchmark, not a test: it asserts nothing.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import websockets  # noqa: E402

from stet_harness import REPO, Server, postgres_available  # noqa: E402


async def editor(url, doc, name, deadline, latencies):
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"hello": {"clientId": name}}))
        await ws.recv()
        await ws.send(json.dumps({"join": {"docId": doc, "echo": False}}))
        rev = 0
        seq = 0
        while time.perf_counter() < deadline:
            seq += 1
            start = time.perf_counter()
            await ws.send(json.dumps({"edit": {"docId": doc, "baseRev": rev, "clientSeq": seq,
                                               "ops": [{"insert": "x" * 20}]}}))
            while True:
                m = json.loads(await ws.recv())
                if "ack" in m:
                    rev = int(m["ack"]["rev"])
                    latencies.append(time.perf_counter() - start)
                    break
                if "snapshot" in m:
                    rev = int(m["snapshot"]["rev"])
                elif "applied" in m:
                    rev = int(m["applied"]["rev"])
                elif "error" in m:
                    raise RuntimeError(m["error"])


def histogram(metrics_text, name):
    """Cumulative buckets, sum and count of a Prometheus histogram."""
    buckets, total, count = [], 0.0, 0
    for line in metrics_text.splitlines():
        if line.startswith(name + "_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
        elif line.startswith(name + "_sum"):
            total = float(line.split()[-1])
        elif line.startswith(name + "_count"):
            count = float(line.split()[-1])
    return buckets, total, count


def quantile(buckets, q):
    """Linear interpolation inside the bucket, as Prometheus does."""
    count = buckets[-1][1] if buckets else 0
    if count == 0:
        return None
    rank, prev_le, prev_c = q * count, 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-9)
        prev_le, prev_c = le, c
    return prev_le


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


async def run_one(backend, editors, seconds, docs):
    with Server(backend=backend) as server:
        latencies = []
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        await asyncio.gather(*(editor(server.ws_url, "bench" if docs == "shared" else f"bench-{i}", f"e{i}",
                                      deadline, latencies) for i in range(editors)))
        elapsed = time.perf_counter() - start
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as r:
            text = r.read().decode()
        commit_buckets, _, commits = histogram(text, "stet_storage_commit_seconds")
        _, batch_sum, batch_count = histogram(text, "stet_storage_batch_edits")
        return {
            "backend": backend, "editors": editors, "docs": docs, "seconds": round(elapsed, 2),
            "edits": len(latencies), "edits_per_second": round(len(latencies) / elapsed),
            "ack_ms_p50": round(pct(latencies, 0.50) * 1000, 3), "ack_ms_p99": round(pct(latencies, 0.99) * 1000, 3),
            "ack_ms_mean": round(statistics.mean(latencies) * 1000, 3),
            "commit_ms_p50": round(quantile(commit_buckets, 0.50) * 1000, 3),
            "commit_ms_p99": round(quantile(commit_buckets, 0.99) * 1000, 3),
            "commits": int(commits), "edits_per_commit": round(batch_sum / max(batch_count, 1), 1),
        }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--editors", default="1,8,64")
    ap.add_argument("--docs", choices=["shared", "separate"], default="separate")
    args = ap.parse_args()
    backends = ["sqlite"] + (["postgres"] if postgres_available() else [])
    results = []
    for backend in backends:
        for n in [int(x) for x in args.editors.split(",")]:
            r = asyncio.run(run_one(backend, n, args.seconds, args.docs))
            print(json.dumps(r))
            results.append(r)
    out = os.path.join(REPO, "bench", "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"persistence-{args.docs}.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
