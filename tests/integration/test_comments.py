"""Comments anchored to text: threads opened over REST on a range, heard
live by every session as `applied`, moved by every edit (typing before,
inside and after the range; deleting it detaches the thread), replies,
resolve and reopen, kept across restarts and compaction on both backends,
on any node of a cluster; commenters comment but do not edit; bad input
gets a clear error."""

import asyncio
import json

import pytest

from test_cluster import wait_for_cluster
from stet_harness import Client, RedisServer, Server, fresh_database, postgres_available, psql

backends = ["sqlite"] + (["postgres"] if postgres_available() else [])


def comments(server, doc_id, token=None):
    status, body, _ = server.http("GET", f"/api/documents/{doc_id}/comments", token=token)
    assert status == 200, body
    return int(body["rev"]), body["threads"]


def anchored(text, thread):
    """The text a thread covers, from its code point positions."""
    return text[int(thread.get("start", 0)):int(thread.get("end", 0))]


def post(server, path, body=None, token=None, method="POST"):
    return server.http(method, path, body if body is not None or method != "POST" else {}, token=token)


async def typist(server, doc_id, text):
    c = await Client(server.ws_url, "typist-" + doc_id).connect()
    await c.join(doc_id)
    if text:
        await c.edit(doc_id, 1, [{"insert": text}])
        await c.wait_for(lambda: 1 in c.acks)
    return c


@pytest.mark.parametrize("backend", backends)
def test_a_thread_follows_its_text_live_and_across_a_restart(backend):
    with Server("--snapshot-every", "5", backend=backend) as server:
        async def scenario():
            c = await typist(server, "memo", "The launch is on Monday, said Ana.")
            reader = await Client(server.ws_url, "reader").connect()
            await reader.join("memo")
            start = c.text.index("Monday")
            status, body, _ = post(server, "/api/documents/memo/comments",
                                   {"start": start, "end": start + 6, "text": "Tuesday? \u2014 see the plan \U0001F680",
                                    "baseRev": c.rev})
            assert status == 200, body
            thread = body["thread"]
            assert body["rev"] == thread == c.rev + 1
            # Every session hears it as a revision of its own, with no text change.
            await reader.wait_for(lambda: any(a.get("comment") for a in reader.applied))
            live = next(a for a in reader.applied if a.get("comment"))
            assert live["comment"]["kind"] == "open" and int(live["comment"]["thread"]) == thread
            assert (live["comment"]["start"], live["comment"]["end"]) == (start, start + 6)
            assert live.get("ops", []) == [] and reader.text == c.text
            # Typing before it moves it; typing inside extends it; at its edges stays outside.
            await c.edit("memo", 2, [{"insert": "NEWS: "}])
            await c.wait_for(lambda: 2 in c.acks)
            moved_start = c.text.index("Monday")
            await c.edit("memo", 3, [{"retain": moved_start + 3}, {"insert": "-"}])
            await c.edit("memo", 4, [{"retain": moved_start}, {"insert": "["}])
            await c.wait_for(lambda: 4 in c.acks)
            await c.edit("memo", 5, [{"retain": c.text.index("day") + 3}, {"insert": "]"}])
            await c.wait_for(lambda: 5 in c.acks)
            rev, threads = comments(server, "memo")
            assert len(threads) == 1 and anchored(c.text, threads[0]) == "Mon-day", (c.text, threads)
            assert threads[0]["entries"][0]["text"] == "Tuesday? \u2014 see the plan \U0001F680"
            assert not threads[0]["detached"] and not threads[0]["resolved"]
            # Replies, resolve, reopen.
            assert post(server, f"/api/documents/memo/comments/{thread}/replies", {"text": "Yes."})[0] == 200
            assert post(server, f"/api/documents/memo/comments/{thread}/resolve")[0] == 200
            _, threads = comments(server, "memo")
            assert threads[0]["resolved"] and [e["text"] for e in threads[0]["entries"]][1:] == ["Yes."]
            assert post(server, f"/api/documents/memo/comments/{thread}/reopen")[0] == 200
            # A second thread, then its text deleted: detached, kept.
            s2 = c.text.index("Ana")
            status, body, _ = post(server, "/api/documents/memo/comments", {"start": s2, "end": s2 + 3, "text": "who?",
                                                                        "baseRev": c.rev})
            assert status == 200, body
            second = body["thread"]
            await c.wait_for(lambda: c.rev >= body["rev"])
            await c.edit("memo", 6, [{"retain": s2 - 6}, {"delete": 10}])
            await c.wait_for(lambda: 6 in c.acks)
            for a, b in ((7, "x"), (8, "y"), (9, "z")):  # past a snapshot (every 5 revisions)
                await c.edit("memo", a, [{"insert": b}])
            await c.wait_for(lambda: 9 in c.acks)
            _, threads = comments(server, "memo")
            byid = {int(t["id"]): t for t in threads}
            assert byid[second]["detached"] and byid[second]["start"] == byid[second]["end"]
            assert anchored(c.text, byid[thread]) == "Mon-day"
            await reader.close()
            await c.close()
            return c.text, threads
        text, before = asyncio.run(scenario())
        server.restart()
        rev, after = comments(server, "memo")
        assert after == before
        # A new session's snapshot carries the threads at its revision.
        async def join_again():
            c = await Client(server.ws_url, "late").connect()
            snap = await c.join("memo")
            await c.close()
            return snap
        snap = asyncio.run(join_again())
        assert snap["text"] == text and snap["comments"] == after


def test_commenters_comment_viewers_read_strangers_see_nothing():
    with Server(anonymous=False) as server:
        for name in ("owner", "critic", "reader", "stranger"):
            assert server.register(name)[0] == 201
        owner, critic, reader, stranger = (server.login(n) for n in ("owner", "critic", "reader", "stranger"))
        status, doc, _ = server.http("POST", "/api/documents", {"title": "t"}, token=owner)
        d = doc["id"]
        for user, role in (("critic", "commenter"), ("reader", "viewer")):
            assert server.http("POST", f"/api/documents/{d}/share", {"user": user, "role": role}, token=owner)[0] == 200
        assert server.http("PUT", f"/api/documents/{d}/text", {"text": "hello world"}, token=owner)[0] == 200
        rev = server.get_document_as(d, owner)["rev"]
        base = f"/api/documents/{d}/comments"
        # A commenter comments, and may not edit: neither over REST nor over WebSocket.
        status, mine, _ = post(server, base, {"start": 0, "end": 5, "text": "greeting?", "baseRev": rev}, token=critic)
        assert status == 200, mine
        status, body, _ = server.http("PUT", f"/api/documents/{d}/text", {"text": "hijacked"}, token=critic)
        assert status == 403 and body["error"]["code"] == "forbidden"

        async def ws_edit():
            c = await Client(server.ws_url, "critic-ws").connect(token=critic)
            await c.join(d)
            await c.edit(d, 1, [{"insert": "x"}])
            await c.wait_for(lambda: c.errors)
            await c.close()
            return c.errors[0]
        err = asyncio.run(ws_edit())
        assert err["code"] == "forbidden" and "comment" in err["message"], err
        assert server.get_document_as(d, owner)["text"] == "hello world"
        # A viewer reads the threads but does not comment.
        assert len(comments(server, d, token=reader)[1]) == 1
        status, body, _ = post(server, base, {"start": 0, "end": 5, "text": "me too", "baseRev": rev}, token=reader)
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, body, _ = post(server, f"{base}/{mine['thread']}/replies", {"text": "me too"}, token=reader)
        assert status == 403
        # Only a thread's author or the owner deletes it.
        status, owners, _ = post(server, base, {"start": 6, "end": 11, "text": "planet", "baseRev": rev}, token=owner)
        assert status == 200
        status, body, _ = post(server, f"{base}/{owners['thread']}", token=critic, method="DELETE")
        assert status == 403 and body["error"]["code"] == "forbidden", body
        assert post(server, f"{base}/{owners['thread']}/resolve", token=critic)[0] == 200
        assert post(server, f"{base}/{mine['thread']}", token=critic, method="DELETE")[0] == 200
        assert post(server, f"{base}/{owners['thread']}", token=owner, method="DELETE")[0] == 200
        assert comments(server, d, token=owner)[1] == []
        # Someone without access learns nothing; no token: 401.
        for method, path, body in (("GET", base, None), ("POST", base, {"start": 0, "end": 1, "text": "x", "baseRev": 1}),
                                   ("POST", f"{base}/1/replies", {"text": "x"}), ("DELETE", f"{base}/1", None)):
            status, answer, _ = server.http(method, path, body, token=stranger)
            assert status == 404 and answer["error"]["code"] == "unknown_document", (path, answer)
            assert server.http(method, path, body)[0] == 401


def test_bad_comments_get_clear_errors_and_change_nothing():
    with Server() as server:
        async def seed():
            c = await typist(server, "strict", "abc\U0001F600def")
            await c.close()
        asyncio.run(seed())
        base = "/api/documents/strict/comments"
        cases = [
            ({"start": 2, "end": 2, "text": "x"}, 400, "invalid_argument"),
            ({"start": 3, "end": 2, "text": "x"}, 400, "invalid_argument"),
            ({"start": 0, "end": 8, "text": "x"}, 400, "invalid_argument"),   # 7 code points
            ({"start": -1, "end": 2, "text": "x"}, 400, "invalid_argument"),
            ({"start": 0, "end": 2 ** 40, "text": "x"}, 400, "invalid_argument"),
            ({"start": 0, "end": 1}, 400, "invalid_argument"),
            ({"start": 0, "end": 1, "text": ""}, 400, "invalid_argument"),
            ({"start": 0, "end": 1, "text": 5}, 400, "invalid_argument"),
            ({"start": 0, "end": 1, "text": "a\u0000b"}, 400, "nul_character"),
            ({"start": 0, "end": 1, "text": "x" * 16385}, 400, "invalid_argument"),
            ({"start": 0, "end": 1, "text": "x", "baseRev": 99}, 400, "bad_rev"),
            ({"start": "0", "end": 1, "text": "x"}, 400, "invalid_argument"),
            ({"start": 0, "end": 1, "text": "x", "baseRev": None}, 400, "invalid_argument"),  # required
            ({"start": 0, "end": 1, "text": "x", "baseRev": "1"}, 400, "invalid_argument"),
            ({"start": 0, "end": 1, "text": "bell \u0007"}, 400, "invalid_argument"),  # control characters
            ({"start": 0, "end": 1, "text": "x", "clientId": "c"}, 400, "invalid_argument"),  # without clientSeq
        ]
        for body, status, code in cases:
            body.setdefault("baseRev", 1)
            got, answer, _ = server.http("POST", base, body)
            assert (got, answer["error"]["code"]) == (status, code), (body, answer)
        got, answer, _ = server.http("POST", base, b"{not json")
        assert got == 400 and answer["error"]["code"] == "bad_message"
        got, answer, _ = server.http("POST", base, b'{"start":0,"end":1,"text":"\xff"}')
        assert got == 400 and answer["error"]["code"] in ("bad_message", "invalid_utf8"), answer
        for path in (f"{base}/0/replies", f"{base}/abc/resolve", f"{base}/1x/reopen"):
            got, answer, _ = server.http("POST", path, {"text": "x"})
            assert got == 400 and answer["error"]["code"] == "invalid_argument", (path, answer)
        got, answer, _ = server.http("POST", f"{base}/77/replies", {"text": "x"})
        assert got == 404 and "77" in answer["error"]["message"], answer
        got, answer, _ = server.http("POST", f"{base}/77/frobnicate", {})
        assert got == 405
        # A comment with code points past the BMP counts them as one each.
        got, answer, _ = server.http("POST", base, {"start": 3, "end": 4, "text": "emoji\nline two\ttab", "baseRev": 1})
        assert got == 200, answer
        rev, threads = comments(server, "strict")
        assert len(threads) == 1 and anchored("abc\U0001F600def", threads[0]) == "\U0001F600"

        # Comments cannot be sent as WebSocket edits: a clear error, nothing applied.
        async def ws_comment():
            c = await Client(server.ws_url, "ws-commenter").connect()
            await c.join("strict")
            await c.ws.send(json.dumps({"edit": {"docId": "strict", "baseRev": c.rev, "clientSeq": 1,
                                                 "comment": {"kind": "open", "start": 0, "end": 1, "text": "x"}}}))
            await c.wait_for(lambda: c.errors)
            await c.close()
            return c.errors[0]
        err = asyncio.run(ws_comment())
        assert err["code"] == "invalid_argument" and "REST" in err["message"]
        assert len(comments(server, "strict")[1]) == 1


@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")
def test_a_comment_made_on_one_node_is_heard_on_every_node():
    for database in fresh_database("stet_comments"):
        with RedisServer() as redis:
            nodes = [Server("--redis", redis.url, "--node-id", name, backend="postgres", database=database).start()
                     for name in ("c1", "c2")]
            try:
                wait_for_cluster(nodes, 2)
                async def scenario():
                    docs = [f"shared-{i}" for i in range(8)]
                    typists = [await typist(nodes[i % 2], d, "some text to discuss") for i, d in enumerate(docs)]
                    owners = dict(psql("SELECT id, owner_node FROM documents WHERE id LIKE 'shared-%'", database))
                    # A document owned by c2, commented through c1, heard by a session on c2.
                    doc = next(d for d in docs if owners[d] == "c2")
                    listener = await Client(nodes[1].ws_url, "listener").connect()
                    await listener.join(doc)
                    status, body, _ = post(nodes[0], f"/api/documents/{doc}/comments",
                                           {"start": 5, "end": 9, "text": "which text?", "baseRev": 1})
                    assert status == 200, body
                    await listener.wait_for(lambda: any(a.get("comment") for a in listener.applied))
                    for node in nodes:
                        _, threads = comments(node, doc)
                        assert [anchored("some text to discuss", t) for t in threads] == ["text"]
                    for c in typists + [listener]:
                        await c.close()
                asyncio.run(scenario())
            finally:
                for n in nodes:
                    n.stop()


def test_a_retried_comment_applies_once_and_changes_are_rate_limited():
    with Server() as server:
        async def seed():
            c = await typist(server, "busy", "anonymous text")
            await c.close()
        asyncio.run(seed())
        base = "/api/documents/busy/comments"
        body = {"start": 0, "end": 9, "text": "once", "baseRev": 1, "clientId": "app-7", "clientSeq": 1}
        first = post(server, base, body)
        again = post(server, base, body)
        assert first[0] == again[0] == 200, (first, again)
        assert again[1]["rev"] == first[1]["rev"]
        assert len(comments(server, "busy")[1]) == 1
        # On a document without an owner any editor deletes a thread, the
        # anonymous author's own included (no one else could).
        assert post(server, f"{base}/{first[1]['thread']}", method="DELETE")[0] == 200
        assert comments(server, "busy")[1] == []
        # Five changes a second per user or address, twenty at once.
        answers = [post(server, f"{base}/999/resolve")[:2] for _ in range(60)]
        statuses = [status for status, _ in answers]
        assert statuses.count(429) >= 10 and set(statuses) <= {404, 429}, statuses
        assert all(body["error"]["code"] == "rate_limited" for status, body in answers if status == 429)
