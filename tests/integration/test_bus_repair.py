"""What the bus lost is repaired: access changes and token revokes stored
while a node could not hear them (its subscriptions dropped, or the node
that stored them died before publishing) still reach its open sessions,
without waiting for the periodic re-read. Real redis-server and PostgreSQL."""

import asyncio

import pytest

from stet_harness import Client, RedisServer, Server, postgres_available, psql

pytestmark = pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")


def test_changes_stored_while_the_subscriptions_were_down_reach_the_open_sessions():
    with RedisServer() as redis:
        server = Server("--redis", redis.url, "--node-id", "n1", backend="postgres", anonymous=False).start()
        try:
            for name in ("alice", "bob", "carol"):
                assert server.register(name, "the right password")[0] == 201
            alice = server.login("alice", "the right password")
            status, doc, _ = server.http("POST", "/api/documents", {"title": "shared"}, token=alice)
            for name in ("bob", "carol"):
                assert server.http("POST", f"/api/documents/{doc['id']}/share", {"user": name, "role": "editor"},
                                   token=alice)[0] == 200

            async def scenario():
                bob = await Client(server.ws_url, "bob-ws").connect(token=server.login("bob", "the right password"))
                carol = await Client(server.ws_url, "carol-ws").connect(
                    token=server.login("carol", "the right password"))
                for c in (bob, carol):
                    await c.join(doc["id"])
                # Stored by a node that died before it could publish: bob
                # loses his role, carol's tokens are revoked.
                psql(f"BEGIN; DELETE FROM document_acl WHERE doc_id = '{doc['id']}' AND user_id = "
                     f"(SELECT id FROM users WHERE username = 'bob'); "
                     f"UPDATE documents SET acl_version = acl_version + 1 WHERE id = '{doc['id']}'; "
                     f"UPDATE users SET token_epoch = token_epoch + 1 WHERE username = 'carol'; COMMIT",
                     dbname=server.database)
                # This node's subscriber connection drops (as Redis does to a
                # slow subscriber) and comes back.
                assert redis.cli("CLIENT", "KILL", "TYPE", "pubsub").startswith(b":")
                await bob.wait_for(lambda: any(e["code"] == "forbidden" for e in bob.errors), timeout=15)
                await carol.wait_for(lambda: any(e["code"] == "token_expired" for e in carol.errors), timeout=15)
                for c in (bob, carol):
                    await c.close()
            asyncio.run(scenario())
        finally:
            server.stop()
