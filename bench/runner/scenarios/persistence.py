"""6. Durable edits."""

import os

from runner.harness import Stet, loadgen, postgres_ready, create_database


def scenario_persistence(profile):
    """6. Durable edits through group commit: 64 writers, each on its own
    document, open loop; SQLite and (inside pg_virtualenv) PostgreSQL."""
    rows = []
    # 320 per writer: 20,480 edits/s, the target's ">= 20k" (300 fell short of it).
    rates = [50] if profile == "smoke" else [100, 200, 320, 400]
    backends = ["sqlite"] + (["postgres"] if postgres_ready() else [])
    for backend in backends:
        for rate in rates:
            args = []
            if backend == "postgres":
                db = f"bench_{os.getpid()}_{rate}"
                create_database(db)
                args = ["--postgres", f"dbname={db}"]
            s = Stet(*args)
            try:
                r = loadgen(s, "--docs", 64, "--conns-per-doc", 1, "--writers-per-doc", 1, "--rate", rate,
                            "--edit-bytes", 50, "--duration", 2 if profile == "smoke" else 8, "--warmup", 1)
                r.update(backend=backend, offered_edits_per_second=64 * rate,
                         commits=s.metric("stet_storage_commit_seconds_count"))
                rows.append(r)
            finally:
                s.stop()
    return rows, ("Durable edits (64 writers, open loop): ack p99", [f"{r['backend']} {r['offered_edits_per_second']}/s"
                                                                       for r in rows],
                  {"ack p99 ms": [r["ack_latency"]["p99_ms"] for r in rows]}, "milliseconds")
