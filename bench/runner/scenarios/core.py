"""7. The core alone and a trace over one WebSocket."""

import json
import os
import subprocess

from runner.harness import Stet, loadgen, SERVER_CORE, CORE_BENCH, TRACES


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
