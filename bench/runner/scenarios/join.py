"""3. Joining documents."""

from runner.harness import Stet, loadgen


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
