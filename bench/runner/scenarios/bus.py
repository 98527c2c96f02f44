"""5b. The cluster bridge alone."""

import json
import shutil
import subprocess

from runner.harness import start_redis, SERVER_CORE, LOAD_CORE, BUS_BENCH


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
