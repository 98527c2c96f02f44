"""Eight real WebSocket clients edit one document at once with stale base
revisions; everyone ends with the server's text."""

import asyncio
import json
import random

from stet_harness import Client, Server


async def editor(client, doc, rng, edits, unique_inserts):
    for seq in range(1, edits + 1):
        text = client.text
        pos = rng.randint(0, len(text))
        if unique_inserts or not text or rng.random() < 0.6:
            token = f"<{client.client_id}.{seq}>" if unique_inserts else rng.choice(["a", "é", "😀", "xyz"])
            ops = [{"retain": pos}] if pos else []
            ops.append({"insert": token})
        else:
            n = rng.randint(1, min(4, len(text) - pos)) if pos < len(text) else 0
            if n == 0:
                pos, n = 0, 1
            ops = ([{"retain": pos}] if pos else []) + [{"delete": n}]
        # Several edits in flight, each on the last text this client saw:
        # their base revisions are stale by the others' edits and its own.
        await client.edit(doc, seq, ops)
        if seq % 3 == 0:
            await client.wait_for(lambda: len(client.acks) >= seq - 2)
        await asyncio.sleep(rng.random() * 0.003)
    await client.wait_for(lambda: len(client.acks) == edits)


async def run(policy, unique_inserts):
    with Server() as server:
        doc = f"concurrent-{policy}"
        clients = [await Client(server.ws_url, f"c{i}").connect() for i in range(8)]
        for c in clients:
            await c.join(doc, policy=policy)
        edits = 60
        await asyncio.gather(*(editor(c, doc, random.Random(i), edits, unique_inserts)
                               for i, c in enumerate(clients)))
        total = 8 * edits
        for c in clients:
            await c.wait_for(lambda: c.rev == total)
        status, body = server.get_document(doc)
        assert status == 200
        assert int(body["rev"]) == total
        for c in clients:
            assert c.errors == [], c.errors
            assert c.text == body["text"]
        if unique_inserts:
            # Later inserts may land inside earlier tokens, so compare the
            # multiset of characters: every inserted one is there, once.
            expected = "".join(f"<{c.client_id}.{seq}>" for c in clients for seq in range(1, edits + 1))
            assert sorted(body["text"]) == sorted(expected)
        for c in clients:
            await c.close()
        return clients


def test_eight_clients_converge_under_lww():
    asyncio.run(run("lww", unique_inserts=False))


def test_eight_clients_converge_under_merge_and_lose_nothing():
    asyncio.run(run("merge", unique_inserts=True))


def test_a_batching_client_gets_every_message_once_in_order():
    """hello {batch: true}: queued messages share frames, one per line; the
    reader still sees every applied edit once, in revision order."""
    import websockets

    async def main(server):
        writer = await Client(server.ws_url, "batch-writer").connect()
        await writer.join("batched")
        reader = await websockets.connect(server.ws_url)
        await reader.send(json.dumps({"hello": {"clientId": "batch-reader", "batch": True}}))
        await reader.send(json.dumps({"join": {"docId": "batched"}}))
        frames, messages = 0, []
        while not any("snapshot" in m for m in messages):  # joined before the burst
            frame = await asyncio.wait_for(reader.recv(), 30)
            frames += 1
            messages += [json.loads(line) for line in frame.split("\n")]
        edits = 400
        for seq in range(1, edits + 1):
            await writer.edit("batched", seq, [{"insert": "x"}], base_rev=0)
        while len([m for m in messages if "applied" in m]) < edits:
            frame = await asyncio.wait_for(reader.recv(), 30)
            frames += 1
            messages += [json.loads(line) for line in frame.split("\n")]
        assert messages[0]["welcome"]["batch"] is True
        revs = [int(m["applied"]["rev"]) for m in messages if "applied" in m]
        assert revs == list(range(1, edits + 1))
        assert frames < len(messages), "400 edits in a burst should share frames"
        await reader.close()
        await writer.close()

    with Server() as server:
        asyncio.run(main(server))
