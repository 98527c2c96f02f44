"""Tokens: logout, a new password and account deletion revoke every token,
and a session whose token expires is told. Real stet processes."""

import asyncio
import json


from adversary_support import raw, next_matching
from stet_harness import Client, Server


# -- tokens: revocation and expiry --

def test_logout_password_change_and_account_deletion_revoke_every_token():
    with Server(anonymous=False) as server:
        for name in ("alice", "bob"):
            assert server.register(name, "first password")[0] == 201
        laptop, phone = server.login("alice", "first password"), server.login("alice", "first password")

        async def session(token):
            c = await Client(server.ws_url, "alice-ws").connect(token=token)
            return c
        async def scenario():
            status, doc, _ = server.http("POST", "/api/documents", {"title": "mine"}, token=laptop)
            c = await session(phone)
            await c.join(doc["id"])
            # Logout on the laptop: every token of alice's goes, the phone's
            # open session is told and leaves the document.
            assert server.http("POST", "/api/logout", token=laptop)[0] == 204
            await c.wait_for(lambda: any(e["code"] == "token_expired" for e in c.errors), timeout=10)
            await c.edit(doc["id"], 1, [{"insert": "after logout"}])
            await c.wait_for(lambda: any(e.get("clientSeq") == "1" and e["code"] == "token_expired"
                                         for e in c.errors), timeout=10)
            for token in (laptop, phone):
                status, body, _ = server.http("GET", "/api/documents", token=token)
                assert status == 401 and "revoked" in body["error"]["message"]
            # A hello with a revoked token is refused too.
            ws, _ = await raw(server.ws_url, {})
            await ws.send(json.dumps({"hello": {"token": phone}}))
            err = await next_matching(ws, lambda m: "error" in m)
            assert err["error"]["code"] == "unauthorized"
            await ws.close()
            # A fresh login works; the same session says hello again and rejoins.
            fresh = server.login("alice", "first password")
            await c.ws.send(json.dumps({"hello": {"token": fresh}}))
            await asyncio.sleep(0.3)
            await c.join(doc["id"])
            await c.edit(doc["id"], 2, [{"insert": "back"}])
            await c.wait_for(lambda: 2 in c.acks)
            # A new password: old tokens go, the answer carries the one that works.
            status, body, _ = server.http("POST", "/api/password",
                                          {"password": "wrong", "newPassword": "second password"}, token=fresh)
            assert status == 403
            status, body, _ = server.http("POST", "/api/password",
                                          {"password": "first password", "newPassword": "second password"},
                                          token=fresh)
            assert status == 200
            assert server.http("GET", "/api/documents", token=fresh)[0] == 401
            assert server.http("GET", "/api/documents", token=body["token"])[0] == 200
            assert server.http("POST", "/api/login", {"username": "alice", "password": "first password"})[0] == 401
            # Deleting the account: its documents and tokens go with it.
            newest = server.login("alice", "second password")
            assert server.http("DELETE", "/api/account", {"password": "second password"}, token=newest)[0] == 204
            assert server.http("GET", "/api/documents", token=newest)[0] == 401
            bob = server.login("bob", "first password")
            assert server.http("GET", f"/api/documents/{doc['id']}", token=bob)[0] == 404
            assert server.http("POST", "/api/login", {"username": "alice", "password": "second password"})[0] == 401
            await c.close()
        asyncio.run(scenario())


def test_a_session_whose_token_expires_is_told_and_must_say_hello_again():
    with Server("--token-ttl-seconds", "2", anonymous=False) as server:
        server.register("alice", "first password")

        async def scenario():
            c = await Client(server.ws_url, "alice-ws").connect(token=server.login("alice", "first password"))
            await c.join("expiring")
            await c.wait_for(lambda: any(e["code"] == "token_expired" for e in c.errors), timeout=10)
            await c.edit("expiring", 1, [{"insert": "late"}])
            await c.wait_for(lambda: len([e for e in c.errors if e["code"] == "token_expired"]) >= 2)
            assert 1 not in c.acks
            await c.ws.send(json.dumps({"hello": {"token": server.login("alice", "first password")}}))
            await asyncio.sleep(0.3)
            await c.join("expiring")
            await c.edit("expiring", 2, [{"insert": "renewed"}])
            await c.wait_for(lambda: 2 in c.acks)
            await c.close()
        asyncio.run(scenario())
