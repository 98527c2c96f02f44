"""Typists against a real stet node: two of them typing at once leave
histories the checker finds clean; one whose connections are dropped under
it reconnects, resumes and loses nothing; one behind a black hole notices by
its pings and fails over to another URL; one typing faster than the node
allows resends what was refused for now, in order."""

import asyncio

from fault_proxy import FaultProxy
from history_checker import check, describe
from stet_harness import Server
from typist import Typist, boundaries


def test_markers_are_never_split():
    assert boundaries("") == [0]
    assert boundaries("<a.1><b.2>") == [0, 5, 10]
    assert boundaries("x<a.1>y") == [0, 1, 6, 7]


async def final_texts(server, doc, typists):
    """The server's text and every typist's copy once they reach its rev."""
    status, body = server.get_document(doc)
    assert status == 200, body
    for t in typists:
        await t.wait_rev(int(body["rev"]), timeout=20)
    return {doc: {"server": body["text"], **{t.client_id: t.text for t in typists}}}


def assert_clean(typists, texts):
    violations, summary = check([t.log for t in typists], texts)
    print(describe(summary))
    assert violations == [], "\n".join(violations)
    for t in typists:
        assert t.fenced == [] and t.errors == [] and t.problems == [], (t.fenced, t.errors, t.problems)
    return summary


def test_two_typists_leave_a_clean_history():
    async def main(server):
        doc = "typed-together"
        typists = [await Typist(server.ws_url, f"t{i}", doc, rate=25).connect() for i in range(2)]
        made = await asyncio.gather(*(t.type_for(2.0) for t in typists))
        for t in typists:
            await t.settle(20)
        texts = await final_texts(server, doc, typists)
        summary = assert_clean(typists, texts)
        # 25 a second for 2 s each, less what start-up and waiting for acks cost.
        assert summary["acked_edits_checked"] == sum(made) >= 60, made
        for t in typists:
            await t.close()

    with Server() as server:
        asyncio.run(main(server))


def test_a_typist_whose_connections_drop_reconnects_and_loses_nothing():
    async def main(server, proxy):
        doc = "typed-through-drops"
        steady = await Typist(server.ws_url, "steady", doc, rate=30).connect()
        dropped = await Typist(proxy.url(), "dropped", doc, rate=30, reconnect=True).connect()
        # With 40 ms each way a drop always catches edits on their way: they
        # are lost with the connection and must be resent.
        proxy.latency(40)
        typing = asyncio.gather(steady.type_for(2.5), dropped.type_for(2.5))
        for _ in range(3):
            await asyncio.sleep(0.6)
            await asyncio.to_thread(proxy.drop)
        await typing
        for t in (steady, dropped):
            await t.settle(20)
        texts = await final_texts(server, doc, [steady, dropped])
        summary = assert_clean([steady, dropped], texts)
        resent = summary["clients"]["dropped"]["sends"] - summary["clients"]["dropped"]["acked"]
        assert resent > 0, "no edit was in flight at a drop: the resend path went untested"
        # Three drops, each closing the one connection open at the time.
        assert dropped.reconnects == 3 and proxy.connections_accepted == 4
        assert steady.reconnects == 0
        for t in (steady, dropped):
            await t.close()

    with Server() as server, FaultProxy("127.0.0.1", server.port) as proxy:
        asyncio.run(main(server, proxy))


def test_a_typist_behind_a_black_hole_fails_over_to_another_url():
    async def main(server, proxy):
        doc = "typed-past-a-black-hole"
        t = await Typist(proxy.url(), "hole", doc, rate=30, failover=[server.ws_url], ping_interval=0.3,
                         ping_timeout=0.5).connect()
        typing = asyncio.create_task(t.type_for(2.0))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(proxy.blackhole)
        sent_into_the_hole = t.seq
        await typing
        await t.settle(20)
        texts = await final_texts(server, doc, [t])
        summary = assert_clean([t], texts)
        assert t.reconnects == 1 and t.urls[0] == server.ws_url
        assert summary["acked_edits_checked"] == t.seq > sent_into_the_hole
        # The pause it saw: the edits that waited in the black hole.
        assert summary["max_pause"] >= 0.5, summary
        await t.close()

    with Server() as server, FaultProxy("127.0.0.1", server.port) as proxy:
        asyncio.run(main(server, proxy))


def test_a_typist_refused_for_now_resends_in_order_and_loses_nothing():
    async def main(server):
        doc = "typed-too-fast"
        t = await Typist(server.ws_url, "hasty", doc, rate=80).connect()
        await t.type_n(40)
        await t.settle(30)
        summary = assert_clean([t], await final_texts(server, doc, [t]))
        refusals = [e[2] for e in t.log.events if e[0] == "error"]
        assert "rate_limited" in refusals, "the node never refused: the resend path went untested"
        assert summary["acked_edits_checked"] == 40
        await t.close()

    # The last --max-edits-per-second given counts; a session may burst twice that.
    with Server("--max-edits-per-second", "10") as server:
        asyncio.run(main(server))
