"""Trust boundaries, tried as an attacker would: a byte no backend can store
and a participant who copies someone else's client id. Each test fails on a
server that trusts what it is sent. Real stet processes and PostgreSQL."""

import asyncio
import json

import pytest

from adversary_support import BACKENDS, backend_or_skip, raw, next_matching
from stet_harness import Client, Server


# -- U+0000 --

@pytest.mark.parametrize("backend", BACKENDS)
def test_nul_in_text_is_refused_everywhere_and_the_document_survives_a_restart(backend):
    backend_or_skip(backend)
    with Server(backend=backend) as server:
        async def edit_then_restart():
            c = await Client(server.ws_url, "writer").connect()
            await c.join("nul-doc")
            await c.edit("nul-doc", 1, [{"insert": "hello"}])
            await c.wait_for(lambda: 1 in c.acks)
            await c.edit("nul-doc", 2, [{"retain": 5}, {"insert": "a\u0000b"}])
            await c.wait_for(lambda: c.errors)
            assert c.errors[0]["code"] == "nul_character", c.errors
            assert int(c.errors[0]["clientSeq"]) == 2
            assert "U+0000" in c.errors[0]["message"]
            await c.edit("nul-doc", 3, [{"retain": 5}, {"insert": " world"}], base_rev=1)
            await c.wait_for(lambda: 3 in c.acks)
            await c.close()
            # A client id with a NUL never reaches a batch either.
            ws, _ = await raw(server.ws_url, {})
            await ws.send(json.dumps({"hello": {"clientId": "x\u0000y"}}))
            err = await next_matching(ws, lambda m: "error" in m)
            assert err["error"]["code"] == "nul_character"
            await ws.close()
        asyncio.run(edit_then_restart())
        server.restart()
        status, doc = server.get_document("nul-doc")
        assert status == 200 and doc["text"] == "hello world" and doc["rev"] == 1 + 1
        status, body, _ = server.http("POST", "/api/register",
                                      {"username": "eve", "password": "long enough", "email": "e\u0000@x"})
        assert status == 400 and body["error"]["code"] == "nul_character"


# -- identity: deduplication and authorship belong to the server --

def test_a_copied_client_id_cannot_swallow_another_users_edits():
    with Server(anonymous=False) as server:
        for name in ("alice", "mallory"):
            assert server.register(name)[0] == 201
        alice, mallory = server.login("alice"), server.login("mallory")
        status, doc, _ = server.http("POST", "/api/documents", {"title": "shared"}, token=alice)
        assert status == 201
        doc_id = doc["id"]
        assert server.http("POST", f"/api/documents/{doc_id}/share", {"user": "mallory", "role": "editor"},
                           token=alice)[0] == 200

        async def attack():
            victim = await Client(server.ws_url, "alice-laptop").connect(token=alice)
            await victim.join(doc_id)
            thief = await Client(server.ws_url, "alice-laptop").connect(token=mallory)
            await thief.join(doc_id)
            await thief.edit(doc_id, 2 ** 62, [{"insert": "M"}])
            await thief.wait_for(lambda: 2 ** 62 in thief.acks)
            for seq in (1, 2):
                await victim.edit(doc_id, seq, [{"insert": f"a{seq}"}])
            await victim.wait_for(lambda: 2 in victim.acks)
            await victim.wait_for(lambda: victim.rev == 3)
            assert sorted(victim.acks.values()) == [2, 3], "the victim's edits were taken for duplicates"
            assert "a1" in victim.text and "a2" in victim.text and "M" in victim.text
            await thief.wait_for(lambda: thief.rev == 3)
            applied = victim.applied
            by_rev = {int(a["rev"]): a for a in applied}
            users = {a["author"]: set() for a in applied}
            for a in applied:
                users[a["author"]].add(a.get("userId"))
            # Same client id, two users: the server says who sent what.
            assert len(users["alice-laptop"]) == 2, users
            assert by_rev[1].get("userId") != by_rev[2].get("userId")
            await victim.close()
            await thief.close()
        asyncio.run(attack())


def test_an_anonymous_client_id_is_a_secret_others_see_only_derived():
    with Server() as server:
        async def attack():
            victim = await Client(server.ws_url, "victim-secret-7f3a").connect()
            assert victim.welcome["clientId"].startswith("anon-")
            assert "victim-secret" not in victim.welcome["clientId"]
            await victim.join("anon-doc")
            await victim.edit("anon-doc", 1, [{"insert": "v1"}])
            await victim.wait_for(lambda: 1 in victim.acks)
            thief = await Client(server.ws_url, "thief").connect()
            snap = await thief.join("anon-doc")
            shown = {p["clientId"] for p in snap.get("participants", [])}
            assert victim.welcome["clientId"] in shown and "victim-secret-7f3a" not in shown
            # Claim what was shown, and poison its sequence numbers.
            thief2 = await Client(server.ws_url, victim.welcome["clientId"]).connect()
            await thief2.join("anon-doc")
            await thief2.edit("anon-doc", 2 ** 62, [{"insert": "T"}])
            await thief2.wait_for(lambda: 2 ** 62 in thief2.acks)
            await victim.edit("anon-doc", 2, [{"insert": "v2"}])
            await victim.wait_for(lambda: 2 in victim.acks)
            assert victim.acks[2] == 3 and "v2" in victim.text
            # The real owner of the secret resumes as itself: a resend is a duplicate.
            again = await Client(server.ws_url, "victim-secret-7f3a").connect()
            await again.join("anon-doc")
            await again.edit("anon-doc", 2, [{"insert": "v2"}], base_rev=2)
            await again.wait_for(lambda: 2 in again.acks)
            assert again.acks[2] == 3
            await again.wait_for(lambda: again.rev == 3)
            assert again.text.count("v2") == 1
            for c in (victim, thief, thief2, again):
                await c.close()
        asyncio.run(attack())
