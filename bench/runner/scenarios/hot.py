"""1. One hot document."""

from runner.harness import Stet, loadgen


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
