"""stet beside Hocuspocus and y-websocket."""

import json
import os

from runner.harness import Stet, Peer, node_driver, PEERS


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
