"""5. Cross-node delivery."""

import os
import shutil
import time

from runner.harness import Stet, loadgen, start_redis, http_ok, postgres_ready, create_database, psql


def scenario_cross_node(profile):
    """5. Cross-node: two nodes (PostgreSQL + Redis); one writer on the
    document's owner; readers on the owner vs on the other node."""
    if not postgres_ready() or not shutil.which("redis-server"):
        return [{"skipped": "needs pg_virtualenv and redis-server"}], None
    redis, rport = start_redis()
    db = f"bench_x_{os.getpid()}"
    create_database(db)
    nodes = []
    try:
        for name in ("a", "b"):
            nodes.append(Stet("--postgres", f"dbname={db}", "--redis", f"redis://127.0.0.1:{rport}", "--node-id",
                              name, name=name))
        deadline = time.time() + 20
        while not all(http_ok(n.port, "/readyz") and n.metric("stet_cluster_nodes") == 2 for n in nodes):
            assert time.time() < deadline, "cluster did not settle"
            time.sleep(0.1)
        a, b = nodes
        rows = []
        # Both nodes share core 0 (the load generator has core 1). Same
        # document on every run; which node owns it decides same vs cross.
        for rate in ([20] if profile == "smoke" else [10, 100, 1000]):
            for reader_node, label in ((a, "via a"), (b, "via b")):
                other = b if reader_node is a else a
                published = reader_node.metric("stet_redis_publish_seconds_count")
                published_other = other.metric("stet_redis_publish_seconds_count")
                r = loadgen(reader_node, "--docs", 1, "--conns-per-doc", 11, "--writers-per-doc", 10, "--rate",
                            rate, "--edit-bytes", 50, "--duration", 2 if profile == "smoke" else 5, "--warmup", 1,
                            "--doc-prefix", "xnode")
                r.update(node=label, rate_per_writer=rate, owned_here=reader_node.metric("stet_open_documents") > 0,
                         redis_publishes=reader_node.metric("stet_redis_publish_seconds_count") - published,
                         redis_publishes_other_node=other.metric("stet_redis_publish_seconds_count")
                         - published_other)
                r["path"] = "same node" if r["owned_here"] else "cross node"
                rows.append(r)
    finally:
        for n in nodes:
            n.stop()
        redis.terminate()
        redis.wait()
        psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    return rows, ("Cross-node delivery", [f"{r['path']} {r['rate_per_writer'] * 10}/s" for r in rows],
                  {"p50 ms": [r["delivery_latency"]["p50_ms"] for r in rows],
                   "p99 ms": [r["delivery_latency"]["p99_ms"] for r in rows]}, "milliseconds")
