"""Session features: resuming from a known revision, presence, several
documents on one connection, and the HTTP document endpoint."""

import asyncio
import json

from stet_harness import Client, Server


def test_rejoin_with_known_rev_replays_missed_revisions_own_as_acks():
    async def main():
        with Server() as server:
            a = await Client(server.ws_url, "a").connect()
            b = await Client(server.ws_url, "b").connect()
            await a.join("resume")
            await b.join("resume")
            await a.edit("resume", 1, [{"insert": "one "}])
            await a.wait_for(lambda: a.rev == 1)
            known_rev, known_text = a.rev, a.text
            await a.close()
            # While a is away: b edits, and a's own edit 2 lands through
            # another connection with a's client id (a resend after a drop).
            await b.edit("resume", 1, [{"retain": 4}, {"insert": "two "}])
            await b.wait_for(lambda: 1 in b.acks)
            a2 = await Client(server.ws_url, "a").connect()
            await a2.join("resume")
            await a2.edit("resume", 2, [{"retain": 8}, {"insert": "three"}])
            await a2.wait_for(lambda: 2 in a2.acks)
            await a2.close()

            back = await Client(server.ws_url, "a").connect()
            back.text, back.rev = known_text, known_rev
            snap = await back.join("resume", known_rev=known_rev, echo=False)
            assert snap.get("resumed") is True
            assert "text" not in snap
            await back.wait_for(lambda: back.rev == 2 and 2 in back.acks)
            # Own edit came back as an ack (not applied); the text is b's edit
            # on top of what it knew, and the ack says where its own landed.
            assert back.acks[2] == 3
            status, body = server.get_document("resume")
            assert body["text"] == "one two three"
            for c in (b, back):
                await c.close()

    asyncio.run(main())


def test_presence_is_relayed_and_participants_listed():
    async def main():
        with Server() as server:
            a = await Client(server.ws_url, "alice").connect()
            await a.join("p")
            b = await Client(server.ws_url, "bob").connect()
            snap = await b.join("p")
            assert {p["clientId"] for p in snap["participants"]} == {"alice", "bob"}
            await a.wait_for(lambda: any(m.get("presence", {}).get("clientId") == "bob" for m in a.other))
            await b.ws.send(json.dumps({"presence": {"docId": "p", "cursor": 3, "anchor": 5}}))
            await a.wait_for(lambda: any(m.get("presence", {}).get("cursor") == 3 for m in a.other))
            await b.close()
            await a.wait_for(lambda: any(m.get("presence", {}).get("left") for m in a.other))
            await a.close()

    asyncio.run(main())


def test_one_connection_edits_several_documents_and_http_reads_them():
    async def main():
        with Server() as server:
            c = await Client(server.ws_url, "multi").connect()
            # The harness mirrors one document's text; here only acks matter.
            for doc in ("x1", "x2"):
                await c.join(doc, policy="merge", echo=False)
            await c.edit("x1", 1, [{"insert": "first"}], base_rev=0)
            await c.edit("x2", 2, [{"insert": "second"}], base_rev=0)
            await c.wait_for(lambda: c.acks == {1: 1, 2: 1})
            for doc, text in (("x1", "first"), ("x2", "second")):
                status, body = server.get_document(doc)
                assert status == 200
                assert body == {"id": doc, "title": "", "text": text, "rev": 1, "policy": "merge", "role": "editor"}
            status, body = server.get_document("never-created")
            assert status == 404 and body["error"]["code"] == "unknown_document"
            await c.ws.send(json.dumps({"leave": {"docId": "x1"}}))
            await c.edit("x1", 3, [{"insert": "!"}], base_rev=1)
            await c.wait_for(lambda: c.errors and c.errors[-1]["code"] == "not_joined")
            assert c.errors[-1]["docId"] == "x1" and c.errors[-1]["clientSeq"] == "3"
            await c.close()

    asyncio.run(main())
