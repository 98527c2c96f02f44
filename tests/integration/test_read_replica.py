"""REST reads from a streaming replica (--postgres-read): stet writes to the
primary of a pg_pair.PgPair (--postgres naming it alone) and reads GET
/api/documents/{id}, ?rev=N and /history from the standby, falling back to
the primary when the standby is behind the revision asked for or down. Every
answer is checked against the texts a WebSocket client saw at each
revision. Where a read was served from is not checked (the server does not
say), except that the standby did serve some. The document is closed (a
short --idle-timeout-ms) before the reads that matter: an open document
answers from memory, not from storage."""

import asyncio
import time

import pytest

import pg_pair
from stet_harness import Client, Server, postgres_available

pytestmark = [
    pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)"),
    pytest.mark.skipif(not pg_pair.available(), reason="needs the PostgreSQL 15 server binaries"),
]

DOC = "replica-doc"


@pytest.fixture
def pair():
    with pg_pair.PgPair() as p:
        yield p


def reader(pair):
    """A node writing to the primary alone and reading from the standby."""
    primary = pair.conninfo(hosts=[("127.0.0.1", pair.first.port)])
    standby = f"host=127.0.0.1 port={pair.second.port} dbname={pair.dbname} user=postgres connect_timeout=2"
    return Server("--postgres", primary, "--postgres-read", standby, "--idle-timeout-ms", "200")


async def type_edits(server, client_id, count, texts):
    """`count` edits to DOC by a new client, each acked before the next (an
    insert, every fourth one a delete too, so no revision's text is a prefix
    of the next); texts[rev] = the client's copy at each revision."""
    c = await Client(server.ws_url, client_id).connect()
    try:
        await c.join(DOC)
        texts.setdefault(c.rev, c.text)
        for seq in range(1, count + 1):
            pos = (c.rev * 7) % (len(c.text) + 1)
            ops = ([{"retain": pos}] if pos else []) + [{"insert": f"[{client_id}.{seq}]"}]
            if seq % 4 == 0 and pos < len(c.text):
                ops.append({"delete": 1})
            await c.edit(DOC, seq, ops)
            await c.wait_for(lambda: seq in c.acks and c.rev >= c.acks[seq], timeout=20)
            texts[c.rev] = c.text
        assert c.errors == [], c.errors
    finally:
        await c.close()


def wait_closed(server, timeout=15):
    """Until the node has no document open (its readers then go to storage)."""
    deadline = time.monotonic() + timeout
    while server.metric("stet_open_documents") not in (0, None):
        assert time.monotonic() < deadline, f"a document still open after {timeout} s"
        time.sleep(0.05)


def wait_replayed(pair, timeout=20):
    """Until the standby has replayed everything the primary wrote so far."""
    lsn = pair.psql("SELECT pg_current_wal_lsn()", dbname="postgres")[0][0]
    deadline = time.monotonic() + timeout
    while pair.psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn", dbname="postgres",
                    node=pair.second) != [["t"]]:
        assert time.monotonic() < deadline, f"standby has not replayed up to {lsn} after {timeout} s"
        time.sleep(0.05)


def standby_transactions(pair):
    """Transactions the standby ran in stet's database (the tests' own
    queries there go to the primary or to the postgres database)."""
    rows = pair.psql(f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{pair.dbname}'",
                     dbname="postgres", node=pair.second)
    return int(rows[0][0]) if rows else 0


def get(server, path):
    """(status, body, seconds taken) of one GET."""
    t0 = time.monotonic()
    status, body, _ = server.http("GET", path)
    return status, body, time.monotonic() - t0


def check_reads(server, texts, what):
    """The latest text and revision, the text at the first, a middle and
    the latest revision, and the whole history, as `texts` has them.
    Returns the longest a read took."""
    last, took = max(texts), []
    status, body, t = get(server, f"/api/documents/{DOC}")
    took.append(t)
    assert status == 200, (what, status, body)
    assert (int(body["rev"]), body["text"]) == (last, texts[last]), (what, body, last, texts[last])
    for rev in sorted({1, last // 2, last - 1, last} - {0}):
        status, body, t = get(server, f"/api/documents/{DOC}?rev={rev}")
        took.append(t)
        assert status == 200, (what, rev, status, body)
        assert (int(body["rev"]), body["text"]) == (rev, texts[rev]), (what, rev, body, texts[rev])
    status, body, t = get(server, f"/api/documents/{DOC}/history")
    took.append(t)
    assert status == 200, (what, status, body)
    assert int(body["rev"]) == last, (what, body["rev"], last)
    assert [int(h["rev"]) for h in body["history"]] == list(range(1, last + 1)), (what, body["history"])
    return max(took)


def test_reads_from_the_replica_and_from_the_primary_once_it_is_down(pair):
    """Edits over a WebSocket; the reads are right just after them, once
    the document is closed (the standby serves some of them), after the
    standby is stopped (from the primary), and for edits made after that,
    which only the primary has."""
    texts = {}
    with reader(pair) as server:
        asyncio.run(type_edits(server, "a", 12, texts))
        assert max(texts) == 12
        check_reads(server, texts, "just after the edits")

        wait_closed(server)
        wait_replayed(pair)
        before = standby_transactions(pair)
        slowest = check_reads(server, texts, "closed document, standby up")
        # The standby's counts reach pg_stat_database within ~10 s of a
        # transaction (a backend flushes its statistics when idle).
        deadline = time.monotonic() + 15
        while standby_transactions(pair) <= before and time.monotonic() < deadline:
            time.sleep(0.2)
        served = standby_transactions(pair) - before
        assert served > 0, f"the standby ran no transaction in {pair.dbname}: --postgres-read unused"

        pair.stop_standby()
        first = check_reads(server, texts, "standby stopped")
        again = check_reads(server, texts, "standby stopped, read again")

        asyncio.run(type_edits(server, "b", 5, texts))
        wait_closed(server)
        latest = check_reads(server, texts, "edits made after the standby stopped")
        print(f"standby up: {served} transactions there, slowest read {slowest * 1000:.0f} ms; standby stopped: "
              f"slowest read {first * 1000:.0f} ms, then {again * 1000:.0f} ms; after new edits "
              f"{latest * 1000:.0f} ms")


def test_a_replica_behind_is_not_read_past_what_it_has(pair):
    """The standby's replay is paused (its WAL is still flushed, so commits
    go on) while five more edits are made: a GET at one of those revisions
    is answered with its text all the same; an older one too; one past the
    latest is still refused; a GET without a revision and /history answer a
    consistent state (a text and revision that belong together, a history
    up to that revision: whether they may be behind is not asserted, no
    revision being asked for). Once replay resumes, everything is current."""
    texts = {}
    with reader(pair) as server:
        asyncio.run(type_edits(server, "a", 8, texts))
        wait_closed(server)
        wait_replayed(pair)

        pair.psql("SELECT pg_wal_replay_pause()", dbname="postgres", node=pair.second)
        deadline = time.monotonic() + 10
        while pair.psql("SELECT pg_get_wal_replay_pause_state()", dbname="postgres",
                        node=pair.second) != [["paused"]]:
            assert time.monotonic() < deadline, "standby replay not paused"
            time.sleep(0.05)
        asyncio.run(type_edits(server, "b", 5, texts))
        wait_closed(server)
        behind = pair.psql(f"SELECT coalesce(max(rev), 0) FROM document_ops WHERE doc_id = '{DOC}'", node=pair.second)
        assert int(behind[0][0]) == 8, f"the standby is not behind: it has rev {behind}"

        last = max(texts)
        for rev in (last, 9, 3):
            status, body, _ = get(server, f"/api/documents/{DOC}?rev={rev}")
            assert status == 200, (rev, status, body)
            assert (int(body["rev"]), body["text"]) == (rev, texts[rev]), (rev, body, texts[rev])
        assert get(server, f"/api/documents/{DOC}?rev={last + 1}")[0] == 400

        status, body, _ = get(server, f"/api/documents/{DOC}")
        assert status == 200 and int(body["rev"]) in texts, (status, body)
        assert body["text"] == texts[int(body["rev"])], ("text and rev do not belong together", body)
        plain = int(body["rev"])
        status, body, _ = get(server, f"/api/documents/{DOC}/history")
        assert status == 200, (status, body)
        assert [int(h["rev"]) for h in body["history"]] == list(range(1, int(body["rev"]) + 1)), body
        print(f"replica at rev 8, latest {last}: GET without a revision answered rev {plain}, "
              f"/history up to rev {body['rev']}")

        pair.psql("SELECT pg_wal_replay_resume()", dbname="postgres", node=pair.second)
        wait_replayed(pair)
        check_reads(server, texts, "replay resumed")
