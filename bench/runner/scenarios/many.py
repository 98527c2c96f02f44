"""2. Many documents."""

from runner.harness import Stet, loadgen


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
