"""The server-side API an application's backend writes with: POST edits,
PUT text (a diff, applied as one edit) and GET text, beside people typing
over WebSocket at the same time, on one node and across a cluster."""

import asyncio

import pytest

from stet_harness import Client, RedisServer, Server, fresh_database, postgres_available
from test_cluster import wait_for_cluster

backends = ["sqlite"] + (["postgres"] if postgres_available() else [])


def text_of(server, doc_id, token=None):
    status, body, headers = server.http("GET", f"/api/documents/{doc_id}/text", token=token)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain")
    return body.decode() if isinstance(body, bytes) else str(body), int(headers["X-Stet-Rev"])


async def type_while(server, doc_id, client_id, count):
    """A typist inserting `count` words at the start while the API writes."""
    c = await Client(server.ws_url, client_id).connect()
    await c.join(doc_id)
    for seq in range(1, count + 1):
        await c.edit(doc_id, seq, [{"insert": f"[{client_id}{seq}]"}])
        await asyncio.sleep(0.01)
    await c.wait_for(lambda: len(c.acks) == count, timeout=60)
    return c


@pytest.mark.parametrize("backend", backends)
def test_rest_edits_and_text_beside_websocket_typists_converge(backend):
    with Server(backend=backend) as server:
        async def scenario():
            c = await Client(server.ws_url, "seed").connect()
            await c.join("api-doc")
            await c.edit("api-doc", 1, [{"insert": "The quick brown fox jumps over the lazy dog.\n"}])
            await c.wait_for(lambda: 1 in c.acks)
            base = c.acks[1]
            typist = asyncio.create_task(type_while(server, "api-doc", "t", 20))
            loop = asyncio.get_running_loop()
            # An edit at an old revision is transformed past the typist's.
            status, body, _ = await loop.run_in_executor(None, lambda: server.http(
                "POST", "/api/documents/api-doc/edits",
                {"baseRev": base, "ops": [{"retain": 44}, {"insert": " (appended by a job)"}]}))
            assert status == 200 and body["rev"] > base, body
            # A whole new text written over it: only the difference is applied,
            # so the typist's words stay.
            current, rev = await loop.run_in_executor(None, lambda: text_of(server, "api-doc"))
            status, body, _ = await loop.run_in_executor(None, lambda: server.http(
                "PUT", "/api/documents/api-doc/text",
                {"text": current.replace("lazy", "sleepy"), "baseRev": rev}))
            assert status == 200, body
            t = await typist
            final, final_rev = text_of(server, "api-doc")
            await c.wait_for(lambda: c.text == final and t.text == final)
            assert "sleepy dog" in final and "lazy" not in final and "(appended by a job)" in final
            assert all(f"[t{i}]" in final for i in range(1, 21))
            assert final_rev == c.rev
            for x in (c, t):
                await x.close()
        asyncio.run(scenario())

        # A retry with the same clientId and clientSeq applies once.
        _, rev = text_of(server, "api-doc")
        edit = {"baseRev": rev, "ops": [{"insert": "once "}], "clientId": "job-42", "clientSeq": 1}
        first = server.http("POST", "/api/documents/api-doc/edits", edit)
        again = server.http("POST", "/api/documents/api-doc/edits", edit)
        assert first[0] == 200 and again[0] == 200 and first[1]["rev"] == again[1]["rev"]
        assert text_of(server, "api-doc")[0].count("once ") == 1
        # Writing the same text again changes nothing.
        same, rev = text_of(server, "api-doc")
        assert server.http("PUT", "/api/documents/api-doc/text", {"text": same})[1]["rev"] == rev

        # Bad input: a clear error, and nothing stored.
        before = text_of(server, "api-doc")
        for body, code in (({"ops": [{"insert": "x"}]}, "invalid_argument"),
                           ({"baseRev": 1, "ops": [{"retain": 10 ** 6}, {"insert": "x"}]}, "out_of_range"),
                           ({"baseRev": 10 ** 6, "ops": [{"insert": "x"}]}, "bad_rev"),
                           ({"baseRev": 1, "ops": [{"insert": "nul\u0000"}]}, "nul_character"),
                           ({"baseRev": 1, "ops": "insert"}, "invalid_argument"),
                           ({"baseRev": -1, "ops": []}, "invalid_argument")):
            status, answer, _ = server.http("POST", "/api/documents/api-doc/edits", body)
            assert status >= 400 and answer["error"]["code"] == code, (body, answer)
        for body in ({"text": 5}, {}, {"text": None}, {"txt": "typo"}):
            status, answer, _ = server.http("PUT", "/api/documents/api-doc/text", body)
            assert status == 400 and answer["error"]["code"] == "invalid_argument", (body, answer)
        status, answer, _ = server.http("POST", "/api/documents/api-doc/edits",
                                        {"baseRev": 1, "ops": [{"insert": "x"}], "clientId": "job-7"})
        assert status == 400 and "clientSeq is required" in answer["error"]["message"]
        status, answer, _ = server.http("POST", "/api/documents/api-doc/edits",
                                        {"baseRev": 1, "ops": [{"insert": "x"}], "clientId": "job-42",
                                         "clientSeq": 0})
        assert status == 400
        status, answer, _ = server.http("PUT", "/api/documents/api-doc/text", b'{"text":"\\u0000"}')
        assert status == 400 and answer["error"]["code"] == "nul_character"
        assert server.http("GET", "/api/documents/no-such-doc/text")[0] == 404
        assert server.http("POST", "/api/documents/no-such-doc/edits", {"baseRev": 0, "ops": []})[0] == 404
        assert text_of(server, "api-doc") == before


def test_rest_calls_need_the_editor_role():
    with Server(anonymous=False) as server:
        for name in ("owner", "reader"):
            assert server.register(name)[0] == 201
        owner, reader = server.login("owner"), server.login("reader")
        status, doc, _ = server.http("POST", "/api/documents", {"title": "t"}, token=owner)
        doc_id = doc["id"]
        assert server.http("POST", f"/api/documents/{doc_id}/share", {"user": "reader", "role": "viewer"},
                           token=owner)[0] == 200
        assert server.http("PUT", f"/api/documents/{doc_id}/text", {"text": "mine"}, token=owner)[0] == 200
        assert text_of(server, doc_id, token=reader)[0] == "mine"
        status, body, _ = server.http("PUT", f"/api/documents/{doc_id}/text", {"text": "theirs"}, token=reader)
        assert status == 403 and body["error"]["code"] == "forbidden"
        assert server.http("PUT", f"/api/documents/{doc_id}/text", {"text": "anon"})[0] == 401
        assert text_of(server, doc_id, token=owner)[0] == "mine"


@pytest.fixture
def database():
    yield from fresh_database("stet_rest")


@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")
def test_rest_edits_reach_an_owner_on_another_node(database):
    with RedisServer() as redis:
        nodes = [Server("--redis", redis.url, "--node-id", name, backend="postgres", database=database).start()
                 for name in ("rest-a", "rest-b")]
        try:
            wait_for_cluster(nodes, 2)

            async def scenario():
                # Several documents, so some are owned by each node.
                typists = []
                for i in range(6):
                    c = await Client(nodes[i % 2].ws_url, f"t{i}").connect()
                    await c.join(f"spread-{i}")
                    await c.edit(f"spread-{i}", 1, [{"insert": "typed "}])
                    typists.append(c)
                for c in typists:
                    await c.wait_for(lambda: 1 in c.acks)
                for i in range(6):
                    for node in nodes:
                        status, body, _ = node.http("PUT", f"/api/documents/spread-{i}/text",
                                                    {"text": f"typed by {node.port}"})
                        assert status == 200, body
                for i, c in enumerate(typists):
                    expected = f"typed by {nodes[1].port}"
                    await c.wait_for(lambda: c.text == expected)
                    assert text_of(nodes[0], f"spread-{i}")[0] == expected
                    await c.close()
            asyncio.run(scenario())
        finally:
            for n in nodes:
                n.stop()
