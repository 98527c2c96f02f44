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
skipped, with a note in the results, when those are missing). The harness,
the charts and each scenario live in bench/runner/.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runner import harness  # noqa: E402
from runner.charts import bar_chart  # noqa: E402
from runner.scenarios import bus, compression, core, cross, floor, hot, join, many, peers, persistence, storm  # noqa: E402

SCENARIOS = {"hot": hot.scenario_hot, "many": many.scenario_many_docs, "join": join.scenario_join,
             "storm": storm.scenario_storm, "cross": cross.scenario_cross_node, "bus": bus.scenario_bus,
             "persistence": persistence.scenario_persistence, "core": core.scenario_core,
             "peers": peers.scenario_peers, "floor": floor.scenario_floor,
             "compression": compression.scenario_compression}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=["smoke", "full"], default="smoke")
    ap.add_argument("--out", default=harness.RESULTS)
    ap.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    args = ap.parse_args()
    harness.PROFILE["name"] = args.profile
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
        doc = {"scenario": name, "profile": args.profile, "machine": harness.machine(), "seconds": time.time() - t,
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
