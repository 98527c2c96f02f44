"""PostgreSQL going away and coming back while clients edit, and the
sessions table as the answer to "who is editing now"."""

import asyncio
import subprocess
import time

import pytest

from stet_harness import Client, Server, postgres_available, postgres_cluster, psql

pytestmark = pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")


def pg_ctl(action):
    version, name = postgres_cluster()
    subprocess.run(["pg_ctlcluster", version, name, action, *(["-m", "fast"] if action == "stop" else [])],
                   check=True)


async def steady_editor(client, doc, stop, sent):
    """One edit in flight at a time; each inserts a unique token."""
    seq = 0
    while not stop.is_set():
        seq += 1
        token = f"({client.client_id}:{seq})"
        sent[seq] = token
        await client.edit(doc, seq, [{"insert": token}])
        deadline = time.time() + 60
        while seq not in client.acks and time.time() < deadline and not client.errors:
            await asyncio.sleep(0.005)
        if client.errors:
            return
        await asyncio.sleep(0.01)


def test_postgres_restart_during_editing_loses_nothing_and_recovers():
    async def main():
        with Server(backend="postgres") as server:
            doc = "pg-restart"
            clients = [await Client(server.ws_url, f"e{i}").connect() for i in range(4)]
            for c in clients:
                await c.join(doc)
            stop = asyncio.Event()
            sent = [dict() for _ in clients]
            tasks = [asyncio.create_task(steady_editor(c, doc, stop, s)) for c, s in zip(clients, sent)]
            await asyncio.sleep(0.5)
            assert server.readyz()[0] == 200

            pg_ctl("stop")
            acked_before = [len(c.acks) for c in clients]
            await asyncio.sleep(1.5)
            # Nothing is acked while PostgreSQL is down, and /readyz says why.
            status, body = server.readyz()
            assert status == 503 and "storage" in body["reason"], body
            # Clients learn which step failed, never the driver's own text
            # (hosts, sockets, SQL); the log has it for operators.
            status, failed, _ = server.http("POST", "/api/register",
                                            {"username": "while-down", "password": "correct horse battery"})
            assert status == 503 and failed["error"]["code"] == "storage_unavailable", failed
            for shown in (failed["error"]["message"], body["reason"]):
                for secret in ("postgres:", "connection", "socket", "127.0.0.1", "server closed"):
                    assert secret not in shown.lower(), shown
            assert "postgres: " in server.log()
            down_acks = [len(c.acks) for c in clients]
            await asyncio.sleep(1.0)
            assert [len(c.acks) for c in clients] == down_acks, "an edit was acked while storage was down"

            pg_ctl("start")
            # The held edits commit once it is back, without a restart of stet.
            for c, before in zip(clients, acked_before):
                await c.wait_for(lambda: len(c.acks) > before + 3, timeout=60)
            stop.set()
            await asyncio.gather(*tasks)
            for c, s in zip(clients, sent):
                await c.wait_for(lambda: all(seq in c.acks for seq in s), timeout=60)
            await asyncio.sleep(0.1)
            assert server.readyz()[0] == 200

            status, body = server.get_document(doc)
            assert status == 200
            for c, s in zip(clients, sent):
                assert c.errors == [], c.errors
                for token in s.values():
                    assert body["text"].count(token) == 1, f"{token} lost or doubled"
            for c in clients:
                await c.wait_for(lambda: c.rev == int(body["rev"]))
                assert c.text == body["text"]
            # And it is all in PostgreSQL after a kill -9 of stet too.
            server.restart()
            assert server.get_document(doc)[1]["text"] == body["text"]
            for c in clients:
                await c.close()

    asyncio.run(main())


def test_sessions_table_answers_who_is_editing_now():
    async def main():
        with Server("--node-id", "node-a", backend="postgres") as server:
            who = f"SELECT id FROM sessions WHERE doc_id = 'team' AND disconnected_at IS NULL ORDER BY id"
            a = await Client(server.ws_url, "ann").connect()
            b = await Client(server.ws_url, "bob").connect()
            await a.join("team")
            await b.join("team")
            await a.edit("team", 1, [{"insert": "x"}])  # commits the session rows with it
            await a.wait_for(lambda: 1 in a.acks)
            rows = psql(who, server.database)
            assert len(rows) == 2
            node = psql("SELECT DISTINCT node_id FROM sessions", server.database)
            assert node == [["node-a"]]
            await b.close()
            deadline = time.time() + 10
            while len(psql(who, server.database)) != 1 and time.time() < deadline:
                await asyncio.sleep(0.05)
            assert len(psql(who, server.database)) == 1
            # A crash leaves a's session open; the restarted node closes it.
            server.restart()
            assert psql(who, server.database) == []
            await a.close()

    asyncio.run(main())


def test_a_node_whose_lease_was_taken_cannot_commit():
    async def main():
        with Server(backend="postgres") as server:
            c = await Client(server.ws_url, "leaseholder").connect()
            await c.join("fenced-doc")
            await c.edit("fenced-doc", 1, [{"insert": "mine"}])
            await c.wait_for(lambda: 1 in c.acks)
            # Another node takes the lease (as a new owner does on a move).
            psql("UPDATE documents SET owner_epoch = owner_epoch + 1, owner_node = 'other' "
                 "WHERE id = 'fenced-doc'", server.database)
            await c.edit("fenced-doc", 2, [{"insert": "late "}])
            # The old actor may not commit it: the node re-attaches the
            # session (opening the document under the current lease) and
            # sends the edit again; it lands exactly once, and the client
            # was never asked to join again.
            await c.wait_for(lambda: 2 in c.acks)
            assert c.resyncs == 0
            assert server.get_document("fenced-doc")[1]["text"] == "late mine"
            assert "late mine" == c.text
            assert c.errors == [], c.errors
            await c.close()

    asyncio.run(main())
