"""Every acknowledged edit survives `kill -9` of the server, edits resent
after the restart are applied exactly once, and all clients converge: on
SQLite and (20 kills) on PostgreSQL."""

import asyncio
import random

import pytest
import websockets

from stet_harness import Client, Server, postgres_available


async def writer(client, doc, first_seq, count, pending):
    """Sends inserts of unique tokens, recording them until acked."""
    for seq in range(first_seq, first_seq + count):
        token = f"[{client.client_id}:{seq}]"
        pending[seq] = token
        try:
            await client.edit(doc, seq, [{"insert": token}])
        except websockets.ConnectionClosed:
            return
        await asyncio.sleep(random.random() * 0.002)


async def round_trip(server, doc, round_no, clients_per_round=4, edits=80):
    clients = [await Client(server.ws_url, f"r{round_no}c{i}").connect() for i in range(clients_per_round)]
    for c in clients:
        await c.join(doc)
    pending = [dict() for _ in clients]
    tasks = [asyncio.create_task(writer(c, doc, 1, edits, pending[i])) for i, c in enumerate(clients)]
    # Kill the server at a random moment while edits are in flight.
    await asyncio.sleep(random.uniform(0.02, 0.15))
    server.kill9()
    await asyncio.gather(*tasks)
    acked = [{seq: p[seq] for seq in c.acks} for c, p in zip(clients, pending)]
    for c in clients:
        await c.close()
    server.start()

    status, body = server.get_document(doc)
    assert status == 200, body
    for a in acked:
        for token in a.values():
            assert body["text"].count(token) == 1, f"acked edit {token} lost or doubled"

    # Clients reconnect and resend what was never acked, with the same
    # sequence numbers: the server must apply each exactly once.
    resent = [await Client(server.ws_url, c.client_id).connect() for c in clients]
    for r, p, a in zip(resent, pending, acked):
        await r.join(doc)
        for seq, token in p.items():
            if seq not in a:
                await r.edit(doc, seq, [{"insert": token}])
    for r, p, a in zip(resent, pending, acked):
        unacked = [seq for seq in p if seq not in a]
        await r.wait_for(lambda: all(seq in r.acks for seq in unacked))
    status, body = server.get_document(doc)
    for p in pending:
        for token in p.values():
            assert body["text"].count(token) == 1, f"{token} not applied exactly once"
    # Every client converges on the server's text.
    for r in resent:
        await r.wait_for(lambda: r.rev == int(body["rev"]))
        assert r.text == body["text"]
        assert r.errors == [], r.errors
        await r.close()
    return sum(len(a) for a in acked)


@pytest.mark.parametrize("backend,kills", [("sqlite", 5), ("postgres", 20)])
def test_acked_edits_survive_kill_9_and_resends_apply_once(backend, kills):
    if backend == "postgres" and not postgres_available():
        pytest.skip("needs PostgreSQL (scripts/test.sh provides it)")
    random.seed(7)

    async def main():
        with Server(backend=backend) as server:
            total_acked = 0
            for round_no in range(kills):
                total_acked += await round_trip(server, "durable", round_no)
            assert total_acked > 0, "no edit was acked before the kills; the test proved nothing"
            print(f"{backend}: {kills} kills, {total_acked} acked edits checked")

    asyncio.run(main())
