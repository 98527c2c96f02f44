"""Inbound backpressure: clients that send faster than the node orders
edits are not read until it catches up (the kernel's TCP windows hold the
rest), and every edit still lands exactly once."""

import asyncio
import re

from stet_harness import Client, Server

EDITS = 300


def test_a_flood_of_edits_pauses_reading_and_loses_nothing():
    async def main():
        # Two frames read and not yet handled, node-wide, are already too
        # many: every client below is paused over and over.
        with Server("--read-backlog-frames", "2") as server:
            clients = []
            for i in range(8):
                c = await Client(server.ws_url, f"flood{i}").connect()
                await c.join(f"flood-{i % 2}")
                clients.append(c)

            async def flood(c):
                for seq in range(1, EDITS + 1):
                    # Every edit on base 0, none waiting for an ack: each
                    # is transformed past everything ordered before it.
                    await c.edit(c.doc, seq, [{"insert": f"<{c.client_id}.{seq}>"}], base_rev=0)

            await asyncio.gather(*(flood(c) for c in clients))
            for c in clients:
                await c.wait_for(lambda c=c: len(c.acks) == EDITS, timeout=60)
                assert not c.errors, c.errors[:3]
            assert server.metric("stet_read_pauses_total") > 0
            assert server.metric("stet_paused_sessions") == 0
            for doc in ("flood-0", "flood-1"):
                status, body = server.get_document(doc)
                assert status == 200
                markers = re.findall(r"<(flood\d+\.\d+)>", body["text"])
                assert len(markers) == len(set(markers)) == 4 * EDITS
            # Still reading: a fresh session joins and edits at once.
            late = await Client(server.ws_url, "late").connect()
            await late.join("flood-0")
            await late.edit("flood-0", 1, [{"insert": "late"}])
            await late.wait_for(lambda: 1 in late.acks)
            for c in clients + [late]:
                await c.close()

    asyncio.run(main())
