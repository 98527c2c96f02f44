"""The REST API against hostile bodies and names: fields of the wrong type,
names with a NUL, and a stolen token used to guess the password. Each test
fails on a server that trusts the shape of what it is sent."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from adversary_support import BACKENDS, backend_or_skip
from stet_harness import Client, Server, postgres_available, psql


def test_fields_of_the_wrong_type_get_400_and_the_node_lives_on():
    with Server(anonymous=False) as server:
        assert server.register("alice", "the right password")[0] == 201
        token = server.login("alice", "the right password")
        status, doc, _ = server.http("POST", "/api/documents", {"title": "mine"}, token=token)
        assert status == 201
        hostile = [
            ("POST", "/api/login", {"username": 1, "password": "x" * 9}, None),
            ("POST", "/api/login", {"username": "alice", "password": ["x"]}, None),
            ("POST", "/api/register", {"username": {"a": 1}, "password": "long enough"}, None),
            ("POST", "/api/register", {"username": "bob", "password": "long enough", "email": 7}, None),
            ("POST", "/api/documents", {"title": "t", "public": "yes"}, token),
            ("POST", "/api/documents", {"title": 3.5}, token),
            ("POST", "/api/documents", {"policy": False}, token),
            ("POST", f"/api/documents/{doc['id']}/share", {"user": 5, "role": "editor"}, token),
            ("POST", f"/api/documents/{doc['id']}/share", {"user": "bob", "role": None}, token),
            ("POST", "/api/password", {"password": 1, "newPassword": "long enough 2"}, token),
            ("DELETE", "/api/account", {"password": [1]}, token),
        ]
        for method, path, body, tok in hostile:
            status, answer, _ = server.http(method, path, body, token=tok)
            assert status == 400, (method, path, body, status, answer)
            assert answer["error"]["code"] == "invalid_argument", answer
        # Still serving: the same node logs in and creates documents.
        assert server.proc.poll() is None
        assert server.http("GET", "/healthz")[0] == 200
        assert server.http("POST", "/api/documents", {"title": "still here", "public": True},
                           token=server.login("alice", "the right password"))[0] == 201


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_name_with_a_nul_belongs_to_nobody_on_either_backend(backend):
    backend_or_skip(backend)
    with Server(backend=backend, anonymous=False) as server:
        for name in ("alice", "bob"):
            assert server.register(name, "the right password")[0] == 201
        # PostgreSQL would read "alice\0N" as "alice": refused before any lookup.
        status, body, _ = server.http("POST", "/api/login", {"username": "alice\u0000N",
                                                               "password": "the right password"})
        assert status == 400 and body["error"]["code"] == "invalid_argument", body
        token = server.login("alice", "the right password")
        status, doc, _ = server.http("POST", "/api/documents", {"title": "shared"}, token=token)
        assert server.http("POST", f"/api/documents/{doc['id']}/share", {"user": "bob", "role": "editor"},
                           token=token)[0] == 200
        # Neither a grant nor a revoke names bob through "bob\0x".
        status, body, _ = server.http("POST", f"/api/documents/{doc['id']}/share",
                                      {"user": "bob\u0000x", "role": "viewer"}, token=token)
        assert status == 400, body
        status, body, _ = server.http("DELETE", f"/api/documents/{doc['id']}/share/bob%00x", token=token)
        assert status == 400, body
        bob = server.login("bob", "the right password")
        assert server.get_document_as(doc["id"], bob)["role"] == "editor"


def test_a_stolen_token_cannot_guess_the_password_or_starve_the_password_checks():
    # Two checks a minute: no token refills while the test runs, however
    # slowly the machine hashes.
    with Server("--max-logins-per-minute", "2", anonymous=False) as server:
        assert server.register("alice", "the right password")[0] == 201
        stolen = server.login("alice", "the right password")
        guess = {"password": "a wrong guess", "newPassword": "mine now, thief"}
        with ThreadPoolExecutor(30) as pool:
            statuses = list(pool.map(lambda _: server.http("POST", "/api/password", guess, token=stolen)[0],
                                     range(30)))
        assert statuses.count(403) <= 2, statuses        # the account's burst of checks
        assert statuses.count(429) >= 28, statuses
        # The right password is still refused while the budget is spent ...
        status, body, _ = server.http("DELETE", "/api/account", {"password": "the right password"}, token=stolen)
        assert status == 429 and body["error"]["code"] == "rate_limited"
        # ... but logging in is a different budget: the user is not locked out.
        assert server.login("alice", "the right password")


@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")
def test_a_revoke_whose_message_was_lost_still_reaches_the_open_session():
    # The revoke is stored straight into the database, as a node that was
    # killed right after storing it (before telling anyone) leaves it.
    with Server("--access-recheck-ms", "300", backend="postgres", anonymous=False) as server:
        for name in ("alice", "bob"):
            assert server.register(name, "the right password")[0] == 201
        alice = server.login("alice", "the right password")
        status, doc, _ = server.http("POST", "/api/documents", {"title": "shared"}, token=alice)
        assert server.http("POST", f"/api/documents/{doc['id']}/share", {"user": "bob", "role": "editor"},
                           token=alice)[0] == 200

        async def scenario():
            bob = await Client(server.ws_url, "bob-ws").connect(token=server.login("bob", "the right password"))
            await bob.join(doc["id"])
            await bob.edit(doc["id"], 1, [{"insert": "before"}])
            await bob.wait_for(lambda: 1 in bob.acks)
            psql(f"BEGIN; DELETE FROM document_acl WHERE doc_id = '{doc['id']}'; "
                 f"UPDATE documents SET acl_version = acl_version + 1 WHERE id = '{doc['id']}'; COMMIT",
                 dbname=server.database)
            await bob.wait_for(lambda: any(e["code"] == "forbidden" for e in bob.errors), timeout=10)
            await bob.edit(doc["id"], 2, [{"insert": "after"}])
            await asyncio.sleep(0.5)
            assert 2 not in bob.acks
            await bob.close()
        asyncio.run(scenario())
        assert server.get_document_as(doc["id"], alice)["text"] == "before"
