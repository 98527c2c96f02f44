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
            # Anonymous sessions are shown by names derived from their client ids.
            alice, bob = a.welcome["clientId"], b.welcome["clientId"]
            assert {p["clientId"] for p in snap["participants"]} == {alice, bob}
            await a.wait_for(lambda: any(m.get("presence", {}).get("clientId") == bob for m in a.other))
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


def test_history_keeps_to_its_byte_limit_and_clients_behind_it_get_the_text():
    """--history-bytes bounds what a document keeps of past revisions: a run
    of 16 KB pastes is trimmed to it once committed (/metrics says how much
    is held, and nothing once the document closes). An edit based on a
    trimmed revision is refused with rev_too_old, a client resuming from one
    gets the whole text instead of the revisions, and GET at one reads the
    stored op log."""
    async def main():
        with Server("--history-bytes", "65536", "--idle-timeout-ms", "100") as server:
            a = await Client(server.ws_url, "a").connect()
            await a.join("pastes")
            for seq in range(1, 21):
                ops = [{"insert": f"<{seq}>" + "p" * 16000}]
                if a.text:
                    ops.append({"delete": len(a.text)})
                await a.edit("pastes", seq, ops)
                await a.wait_for(lambda: a.rev == seq)
            held = server.metric("stet_document_history_bytes")
            assert 0 < held <= 65536

            await a.edit("pastes", 21, [{"insert": "stale"}], base_rev=1)
            await a.wait_for(lambda: a.errors)
            assert a.errors[0]["code"] == "rev_too_old"
            assert int(a.errors[0]["clientSeq"]) == 21
            assert "rejoin" in a.errors[0]["message"]

            b = await Client(server.ws_url, "b").connect()
            snap = await b.join("pastes", known_rev=1)
            assert not snap.get("resumed")
            assert int(snap["rev"]) == 20 and snap["text"] == a.text
            assert a.text.startswith("<20>")

            # The REST view of an old revision still comes from the op log.
            status, body, _ = server.http("GET", "/api/documents/pastes?rev=5")
            assert status == 200, body
            assert body["rev"] == 5 and body["text"] == "<5>" + "p" * 16000

            for c in (a, b):
                await c.close()
            deadline = asyncio.get_running_loop().time() + 10
            while server.metric("stet_document_history_bytes") != 0:
                assert asyncio.get_running_loop().time() < deadline, "closed document still holds history"
                await asyncio.sleep(0.05)

    asyncio.run(main())
