"""stet's PostgreSQL failing over, or the network to it failing, while
typists edit: stet finds the promoted standby through libpq's multi-host
conninfo without a restart, holds the edits it could not commit and commits
them once it can, and no edit it acked is lost or doubled (checked by
history_checker against every client's log, the final texts and the op log
on the promoted server). Each test builds its own primary and synchronous
standby (pg_pair.PgPair); the cluster pg_virtualenv provides is not used."""

import asyncio
import time

import pytest

import pg_pair
import prometheus_support
from fault_proxy import FaultProxy
from history_checker import check, describe
from stet_harness import RedisServer, Server, postgres_available
from typist import Typist

pytestmark = [
    pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)"),
    pytest.mark.skipif(not pg_pair.available(), reason="needs the PostgreSQL 15 server binaries"),
]


@pytest.fixture
def pair():
    with pg_pair.PgPair() as p:
        yield p


def pg_node(conninfo, *extra):
    # The default backend adds no --postgres of its own: ours is the only one.
    return Server("--postgres", conninfo, *extra)


def ops_rows(pair, docs):
    names = ",".join(f"'{d}'" for d in docs)
    return [tuple(r) for r in pair.psql(
        f"SELECT doc_id, rev, epoch, client_id, client_seq FROM document_ops WHERE doc_id IN ({names})")]


def storage_log(server, limit=25):
    """The node's warnings and errors (storage, moves), for a failure report."""
    lines = [l for l in server.log().splitlines() if '"level":"warn' in l or '"level":"error' in l]
    return "\n".join(lines[-limit:])


async def texts_of(servers, typists):
    """doc -> {source: text}: each node's GET and every typist's copy once
    it reached the first node's revision."""
    out = {}
    for doc in sorted({t.doc for t in typists}):
        status, body = servers[0].get_document(doc)
        if status != 200:
            for i, s in enumerate(servers, 1):
                print(f"--- node {i} warnings/errors ---\n{storage_log(s)}")
        assert status == 200, body
        out[doc] = {"server": body["text"]}
        for i, s in enumerate(servers[1:], 2):
            out[doc][f"node{i}"] = s.get_document(doc)[1]["text"]
        for t in (t for t in typists if t.doc == doc):
            # A session told `fenced` is no longer sent the document's edits.
            if not t.fenced and not t.lost:
                await t.wait_rev(int(body["rev"]), timeout=30)
                out[doc][t.client_id] = t.text
    return out


def latencies(typists):
    """(first send, first ack) of every acked edit, from the typists' logs."""
    out = []
    for t in typists:
        sent, acked = {}, {}
        for e in t.log.events:
            if e[0] == "send":
                sent.setdefault((e[1], e[2]), e[-1])
            elif e[0] == "ack":
                acked.setdefault((e[1], e[2]), e[-1])
        out += [(sent[k], acked[k]) for k in acked if k in sent]
    return out


def pause_report(typists, start, end):
    """The pause typists saw around a fault from `start` to `end`
    (time.monotonic()): ack latency of the edits in flight or sent in that
    window, and the longest time no typist got any ack."""
    around = sorted(a - s for s, a in latencies(typists) if s <= end and a >= start)
    acks = sorted(a for _, a in latencies(typists))
    gap = max((b - a for a, b in zip(acks, acks[1:])), default=0.0)

    def pick(q):
        return around[min(len(around) - 1, int(q * len(around)))] if around else 0.0

    return (f"{len(around)} edits around the fault: ack latency p50 {pick(0.5) * 1000:.0f} ms, "
            f"p99 {pick(0.99) * 1000:.0f} ms, max {pick(1.0) * 1000:.0f} ms; longest gap between any acks "
            f"{gap * 1000:.0f} ms")


def assert_clean(typists, texts, rows, servers):
    violations, summary = check([t.log for t in typists], texts, rows)
    print(f"{describe(summary)}; {len(rows)} document_ops rows checked")
    trouble = {t.client_id: (t.fenced, t.errors, t.problems) for t in typists if t.fenced or t.errors or t.problems}
    if violations or trouble:
        for i, s in enumerate(servers, 1):
            print(f"--- node {i} warnings/errors ---\n{storage_log(s)}")
    assert violations == [], "\n".join(violations)
    assert trouble == {}, trouble
    return summary


async def type_through(typists, seconds, fault):
    """Every typist types for `seconds` while `fault()` (a coroutine) runs,
    then waits for its edits to be answered. Returns (edits made, fault's
    result). An edit still unanswered is left for the checker to report,
    with the rest of the history, rather than failing here without it."""
    typing = asyncio.gather(*(t.type_for(seconds) for t in typists))
    result = await fault()
    made = await typing
    settled = await asyncio.gather(*(t.settle(30) for t in typists), return_exceptions=True)
    for e in settled:
        if isinstance(e, TimeoutError):
            print(f"not settled: {e}")
    return sum(made), result


async def failover(pair, typists, proxy=None):
    """SIGKILLs the primary after 2 s of typing, promotes the standby about
    1 s later; returns (kill time, promoted time). A `proxy` in front of the
    primary is closed with it: a dead host refuses connections, and libpq
    tries the next host only then, not when one accepts and hangs up."""
    await asyncio.sleep(2.0)
    # Kill while edits wait for their acks, so that commits are likely in
    # flight (at loopback speed most instants have none).
    deadline = time.monotonic() + 2.0
    while sum(len(t.unacked) for t in typists) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    killed_at = time.monotonic()
    stragglers = await asyncio.to_thread(pair.kill_primary)
    if proxy:
        await asyncio.to_thread(proxy.close)
    print(f"primary killed; backends that outlived the postmaster: {stragglers}")
    await asyncio.sleep(max(0.0, killed_at + 1.0 - time.monotonic()))
    await asyncio.to_thread(pair.promote_standby)
    promoted_at = time.monotonic()
    print(f"standby promoted {promoted_at - killed_at:.2f} s after the kill")
    return killed_at, promoted_at


def acked_after(typists, when):
    return sum(1 for _, a in latencies(typists) if a > when)


def in_flight_at(typists, when):
    """Edits sent and not yet acked at `when`: the ones a fault then caught."""
    return sum(1 for s, a in latencies(typists) if s <= when < a)


def test_one_node_survives_failover_and_loses_no_acked_edit(pair):
    """Three typists on one node; the primary is killed and the standby
    promoted while they type."""
    doc = "failover-one"

    async def main(server):
        typists = [await Typist(server.ws_url, f"t{i}", doc, rate=20, reconnect=True,
                                rejoin_on_fenced=False).connect() for i in range(3)]
        made, (killed, promoted) = await type_through(typists, 8.0, lambda: failover(pair, typists))
        texts = await texts_of([server], typists)
        summary = assert_clean(typists, texts, ops_rows(pair, [doc]), [server])
        print("failover pause:", pause_report(typists, killed, promoted))
        print(f"edits made {made}, in flight at the kill {in_flight_at(typists, killed)}, acked after the "
              f"promotion {acked_after(typists, promoted)}, typist reconnects {[t.reconnects for t in typists]}, "
              f"storage errors counted {server.metric('stet_storage_errors_total')}")
        assert summary["acked_edits_checked"] == made
        # Typing went on after the promotion and was committed on the new primary.
        assert acked_after(typists, promoted) > 0
        assert pair.primary is pair.second
        for t in typists:
            await t.close()

    with pg_node(pair.conninfo()) as server:
        asyncio.run(main(server))


def test_two_nodes_with_redis_survive_failover(pair):
    """As above with two nodes, and 5 ms each way between stet and both
    servers: commits then take long enough that the kill catches some in
    flight (at full loopback speed it rarely does), which stet must retry
    on the promoted standby without committing any twice."""
    docs = [f"failover-two-{i}" for i in range(4)]

    async def main(nodes, proxy):
        typists = []
        for i, doc in enumerate(docs):
            # Each document has a typist on both nodes: one of them relays to the owner.
            for j, node in enumerate(nodes):
                typists.append(await Typist(node.ws_url, f"d{i}n{j}", doc, rate=10, reconnect=True,
                                            rejoin_on_fenced=False).connect())
        made, (killed, promoted) = await type_through(typists, 8.0, lambda: failover(pair, typists, proxy))
        texts = await texts_of(nodes, typists)
        summary = assert_clean(typists, texts, ops_rows(pair, docs), nodes)
        print("failover pause:", pause_report(typists, killed, promoted))
        owners = pair.psql(f"SELECT id, owner_node FROM documents WHERE id IN ({','.join(repr(d) for d in docs)})")
        print(f"edits made {made}, in flight at the kill {in_flight_at(typists, killed)}, acked after the "
              f"promotion {acked_after(typists, promoted)}, owners {owners}, typist reconnects "
              f"{sum(t.reconnects for t in typists)}, storage errors counted "
              f"{[n.metric('stet_storage_errors_total') for n in nodes]}")
        assert summary["acked_edits_checked"] == made
        assert {o for _, o in owners} == {"n1", "n2"}, "one node owned every document: half the case went untested"
        assert acked_after(typists, promoted) > 0
        assert in_flight_at(typists, killed) > 0, "no edit was in flight at the kill: the retry went untested"
        for t in typists:
            await t.close()

    with RedisServer() as redis, FaultProxy("127.0.0.1", pair.first.port) as p1, \
            FaultProxy("127.0.0.1", pair.second.port) as p2:
        for p in (p1, p2):
            p.latency(5)
        conninfo = pair.conninfo(hosts=[("127.0.0.1", p1.port), ("127.0.0.1", p2.port)])
        nodes = [pg_node(conninfo, "--redis", redis.url, "--node-id", f"n{i}") for i in (1, 2)]
        try:
            for n in nodes:
                n.start()
            wait_for_two(nodes)
            asyncio.run(main(nodes, p1))
        finally:
            for n in nodes:
                n.stop()


def wait_for_two(nodes, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(int(n.metric("stet_cluster_nodes") or 0) == 2 and n.readyz()[0] == 200 for n in nodes):
            return
        time.sleep(0.1)
    raise TimeoutError("the two nodes did not see each other")


# -- faults on the way to the primary --

def proxied(pair):
    """A FaultProxy in front of the primary and a conninfo naming only it."""
    proxy = FaultProxy("127.0.0.1", pair.primary.port)
    return proxy, pair.conninfo(hosts=[("127.0.0.1", proxy.port)])


async def typists_on(server, doc, n=3, rate=20):
    return [await Typist(server.ws_url, f"{doc}-{i}", doc, rate=rate, reconnect=True,
                         rejoin_on_fenced=False).connect() for i in range(n)]


def test_latency_to_postgres_slows_commits_but_loses_nothing(pair):
    doc = "pg-latency"

    async def main(server, proxy):
        typists = await typists_on(server, doc)

        async def slow():
            await asyncio.sleep(1.0)
            proxy.latency(50)
            return time.monotonic()

        made, slowed = await type_through(typists, 5.0, slow)
        proxy.heal()
        summary = assert_clean(typists, await texts_of([server], typists), ops_rows(pair, [doc]), [server])
        print("with 50 ms each way:", pause_report(typists, slowed, time.monotonic()))
        assert summary["acked_edits_checked"] == made
        for t in typists:
            await t.close()

    proxy, conninfo = proxied(pair)
    with proxy, pg_node(conninfo) as server:
        asyncio.run(main(server, proxy))


def test_dropped_connections_to_postgres_are_reopened_and_edits_retried(pair):
    doc = "pg-drops"

    async def main(server, proxy):
        typists = await typists_on(server, doc)
        errors_before = server.metric("stet_storage_errors_total") or 0.0

        async def drops():
            # 20 ms each way keeps commits in flight, so a drop catches one.
            proxy.latency(20)
            times, opened = [], proxy.connections_accepted
            for _ in range(2):
                await asyncio.sleep(1.5)
                times.append(time.monotonic())
                await asyncio.to_thread(proxy.drop)
            return times, opened

        made, (times, opened) = await type_through(typists, 5.0, drops)
        proxy.heal()
        summary = assert_clean(typists, await texts_of([server], typists), ops_rows(pair, [doc]), [server])
        errors = (server.metric("stet_storage_errors_total") or 0.0) - errors_before
        print("around the drops:", pause_report(typists, times[0], times[-1]))
        caught = [in_flight_at(typists, t) for t in times]
        print(f"edits in flight at the drops {caught}, proxy connections accepted {proxy.connections_accepted}, "
              f"storage errors counted {errors:.0f}")
        assert summary["acked_edits_checked"] == made
        assert sum(caught) > 0, "no edit was in flight at a drop: the retry went untested"
        # stet opened a new connection after each drop rather than giving up.
        assert proxy.connections_accepted >= opened + 2, (opened, proxy.connections_accepted)
        for t in typists:
            await t.close()

    proxy, conninfo = proxied(pair)
    with proxy, pg_node(conninfo) as server:
        asyncio.run(main(server, proxy))


def test_edits_wait_out_a_partition_from_postgres_and_complete_after(pair):
    doc = "pg-partition"

    async def main(server, proxy):
        typists = await typists_on(server, doc)
        errors_before = server.metric("stet_storage_errors_total") or 0.0
        seen = {}

        async def partition():
            await asyncio.sleep(1.0)
            cut = time.monotonic()
            await asyncio.to_thread(proxy.partition)
            # Acks of commits that landed just before the cut may still be on their way.
            await asyncio.sleep(1.0)
            acked_at_cut = sum(len(t.acks) for t in typists)
            await asyncio.sleep(3.0)
            seen["errors"] = (server.metric("stet_storage_errors_total") or 0.0) - errors_before
            seen["readyz"] = server.readyz()
            seen["acked_during"] = sum(len(t.acks) for t in typists) - acked_at_cut
            seen["waiting"] = sum(len(t.unacked) for t in typists)
            if prometheus:
                # What an SRE sees: the page fires while the database is away.
                await asyncio.to_thread(prometheus.wait_for_alert, "StetStorageErrors", "firing", 30)
            await asyncio.sleep(1.0)
            await asyncio.to_thread(proxy.heal)
            return cut, time.monotonic()

        made, (cut, healed) = await type_through(typists, 8.0, partition)
        summary = assert_clean(typists, await texts_of([server], typists), ops_rows(pair, [doc]), [server])
        print("through a 5 s partition:", pause_report(typists, cut, healed))
        print(f"during it: storage errors {seen['errors']:.0f}, readyz {seen['readyz']}, "
              f"acks {seen['acked_during']}, edits waiting {seen['waiting']}; "
              f"acked after the heal {acked_after(typists, healed)}")
        assert summary["acked_edits_checked"] == made
        assert seen["errors"] > 0, "stet_storage_errors_total did not move while PostgreSQL was unreachable"
        assert seen["waiting"] > 0, "no edit was waiting during the partition: the case went untested"
        assert seen["acked_during"] == 0, "edits were acked while PostgreSQL was unreachable"
        assert seen["readyz"][0] == 503, seen["readyz"]
        assert acked_after(typists, healed) > 0
        if prometheus:
            # ... and resolves once no storage error is counted any more.
            await asyncio.to_thread(prometheus.wait_until_resolved, "StetStorageErrors", 60)
        for t in typists:
            await t.close()

    proxy, conninfo = proxied(pair)
    prometheus = None
    with proxy, pg_node(conninfo) as server:
        if prometheus_support.available():
            with prometheus_support.Prometheus([server]) as prometheus:
                prometheus.wait_until_scraped()
                asyncio.run(main(server, proxy))
        else:
            asyncio.run(main(server, proxy))
