"""4. The reconnect storm."""

import re
import signal
import tempfile
import time

from runner.harness import Stet, loadgen, free_port, STORM_RATE


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
