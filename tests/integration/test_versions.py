"""Named versions and restore: a name for the text of a revision, kept
after compaction and restarts; restoring a revision or a version is a new
edit that every typist receives (history is never rewritten); only editors
name and restore; bad input gets a clear error."""

import asyncio
import time

import pytest

from stet_harness import Client, Server, postgres_available

backends = ["sqlite"] + (["postgres"] if postgres_available() else [])


def seeded(server, doc_id, text):
    """Creates `doc_id` (a WebSocket join creates it) holding `text` at rev 1."""
    async def run():
        c = await typed(server, doc_id, [text])
        await c.close()
    asyncio.run(run())


def text_at(server, doc_id, rev=None, token=None):
    path = f"/api/documents/{doc_id}" + (f"?rev={rev}" if rev is not None else "")
    status, body, _ = server.http("GET", path, token=token)
    assert status == 200, body
    return body["text"], int(body["rev"])


async def typed(server, doc_id, pieces):
    """A typist that inserts each piece at the end, one edit each."""
    c = await Client(server.ws_url, "typist-" + doc_id).connect()
    await c.join(doc_id)
    for seq, piece in enumerate(pieces, 1):
        await c.edit(doc_id, seq, [{"retain": len(c.text)}, {"insert": piece}] if c.text else [{"insert": piece}])
        await c.wait_for(lambda: seq in c.acks)
    return c


@pytest.mark.parametrize("backend", backends)
def test_restore_a_revision_and_a_named_version_as_new_edits(backend):
    with Server(backend=backend) as server:
        async def scenario():
            c = await typed(server, "drafts", ["Dear team,\n", "the launch is on Monday.\n"])
            status, v1, _ = server.http("POST", "/api/documents/drafts/versions", {"name": "first draft \u2014 ok"})
            assert status == 201, v1
            assert v1["rev"] == 2 and v1["name"] == "first draft \u2014 ok" and v1["id"] > 0
            draft_text = c.text
            # A version of an older revision, by number.
            status, v0, _ = server.http("POST", "/api/documents/drafts/versions", {"name": "greeting", "rev": 1})
            assert status == 201 and v0["rev"] == 1, v0
            for seq, piece in enumerate(["Scratch that: Tuesday.\n", "Thanks!\n"], 3):
                await c.edit("drafts", seq, [{"retain": len(c.text)}, {"insert": piece}])
            await c.wait_for(lambda: 4 in c.acks)
            status, body, _ = server.http("GET", "/api/documents/drafts/versions")
            assert status == 200 and [v["name"] for v in body["versions"]] == ["first draft \u2014 ok", "greeting"]
            assert all("text" not in v for v in body["versions"])
            status, one, _ = server.http("GET", f"/api/documents/drafts/versions/{v1['id']}")
            assert status == 200 and one["text"] == draft_text

            # Restoring a version: a new revision whose text is the version's,
            # delivered to the typist like any edit.
            status, r, _ = server.http("POST", "/api/documents/drafts/restore", {"version": v1["id"]})
            assert status == 200 and r["rev"] == 5, r
            await c.wait_for(lambda: c.rev == 5 and c.text == draft_text)
            assert text_at(server, "drafts") == (draft_text, 5)
            # History is kept: revision 4 still reads as it was.
            assert "Thanks!" in text_at(server, "drafts", 4)[0]
            # Restoring a revision by number.
            status, r, _ = server.http("POST", "/api/documents/drafts/restore", {"rev": 4})
            assert status == 200 and r["rev"] == 6, r
            await c.wait_for(lambda: c.rev == 6)
            assert c.text == text_at(server, "drafts", 4)[0] == text_at(server, "drafts")[0]
            # Restoring the text the document has already: nothing to apply.
            status, r, _ = server.http("POST", "/api/documents/drafts/restore", {"rev": 6})
            assert status == 200 and r["rev"] == 6, r
            status, r, _ = server.http("POST", "/api/documents/drafts/restore", {"version": v0["id"]})
            assert status == 200 and text_at(server, "drafts")[0] == "Dear team,\n"
            await c.close()

        asyncio.run(scenario())
        # Versions are durable.
        server.restart()
        status, body, _ = server.http("GET", "/api/documents/drafts/versions")
        assert status == 200 and len(body["versions"]) == 2


def test_a_restore_is_transformed_past_concurrent_typing():
    with Server() as server:
        async def scenario():
            c = await typed(server, "busy", ["alpha\n", "beta\n"])
            status, v, _ = server.http("POST", "/api/documents/busy/versions", {"name": "two lines"})
            assert status == 201
            await c.edit("busy", 3, [{"retain": len(c.text)}, {"insert": "gamma\n"}])
            await c.wait_for(lambda: 3 in c.acks)
            # Another typist keeps inserting at the start while the restore runs.
            other = await Client(server.ws_url, "other").connect()
            await other.join("busy")
            loop = asyncio.get_running_loop()
            restore = loop.run_in_executor(None, lambda: server.http("POST", "/api/documents/busy/restore",
                                                                     {"version": v["id"]}))
            for seq in range(1, 21):
                await other.edit("busy", seq, [{"insert": "*"}])
                await asyncio.sleep(0.005)
            status, r, _ = await restore
            assert status == 200, r
            await other.wait_for(lambda: len(other.acks) == 20)
            final, rev = text_at(server, "busy")
            await c.wait_for(lambda: c.text == final)
            await other.wait_for(lambda: other.text == final)
            # The restore's own revision holds exactly the version's text
            # (stars typed before it were in the text it replaced); every
            # star typed after it is kept.
            assert text_at(server, "busy", r["rev"])[0] == "alpha\nbeta\n"
            later = sum(1 for rev in other.acks.values() if rev > r["rev"])
            assert final == "*" * later + "alpha\nbeta\n", (final, later)
            for x in (c, other):
                await x.close()

        asyncio.run(scenario())


def test_a_named_version_outlives_the_compacted_op_log():
    # Snapshots every 100 revisions prune the op log to its last 1000; a
    # document closed when idle then no longer holds the early revisions.
    with Server("--snapshot-every", "100", "--idle-timeout-ms", "200") as server:
        async def scenario():
            c = await typed(server, "long", ["start\n"])
            status, early, _ = server.http("POST", "/api/documents/long/versions", {"name": "the start"})
            assert status == 201 and early["rev"] == 1
            # 1,200 more edits, sent without waiting for each ack.
            for seq in range(2, 1202):
                await c.edit("long", seq, [{"insert": "."}], base_rev=1)
            await c.wait_for(lambda: len(c.acks) == 1201, timeout=120)
            await c.close()
            return early

        early = asyncio.run(scenario())
        deadline = time.time() + 20
        while time.time() < deadline:  # until the idle document closed
            if server.metric("stet_open_documents") in (0, 0.0):
                break
            time.sleep(0.1)
        status, body, _ = server.http("GET", "/api/documents/long?rev=1")
        assert status >= 400 and "not available" in body["error"]["message"], body
        status, body, _ = server.http("POST", "/api/documents/long/restore", {"rev": 1})
        assert status >= 400 and "not available" in body["error"]["message"], body
        status, r, _ = server.http("POST", "/api/documents/long/restore", {"version": early["id"]})
        assert status == 200 and r["rev"] == 1202, r
        assert text_at(server, "long") == ("start\n", 1202)


def test_only_editors_name_and_restore_versions():
    with Server(anonymous=False) as server:
        for name in ("owner", "reader", "stranger"):
            assert server.register(name)[0] == 201
        owner, reader, stranger = (server.login(n) for n in ("owner", "reader", "stranger"))
        status, doc, _ = server.http("POST", "/api/documents", {"title": "t"}, token=owner)
        doc_id = doc["id"]
        assert server.http("POST", f"/api/documents/{doc_id}/share", {"user": "reader", "role": "viewer"},
                           token=owner)[0] == 200
        assert server.http("PUT", f"/api/documents/{doc_id}/text", {"text": "v1"}, token=owner)[0] == 200
        status, v, _ = server.http("POST", f"/api/documents/{doc_id}/versions", {"name": "one"}, token=owner)
        assert status == 201 and v["author"] == "owner", v
        assert server.http("PUT", f"/api/documents/{doc_id}/text", {"text": "v2"}, token=owner)[0] == 200
        # A viewer reads versions but neither names nor restores them.
        status, body, _ = server.http("GET", f"/api/documents/{doc_id}/versions", token=reader)
        assert status == 200 and len(body["versions"]) == 1
        assert server.http("GET", f"/api/documents/{doc_id}/versions/{v['id']}", token=reader)[1]["text"] == "v1"
        status, body, _ = server.http("POST", f"/api/documents/{doc_id}/versions", {"name": "mine"}, token=reader)
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, body, _ = server.http("POST", f"/api/documents/{doc_id}/restore", {"version": v["id"]}, token=reader)
        assert status == 403 and body["error"]["code"] == "forbidden"
        # Someone without access learns nothing, not even that it exists.
        for method, path, payload in (("GET", "versions", None), ("GET", f"versions/{v['id']}", None),
                                      ("POST", "versions", {"name": "x"}), ("POST", "restore", {"rev": 1})):
            status, body, _ = server.http(method, f"/api/documents/{doc_id}/{path}", payload, token=stranger)
            assert status == 404 and body["error"]["code"] == "unknown_document", (path, body)
            assert server.http(method, f"/api/documents/{doc_id}/{path}", payload)[0] == 401
        assert text_at(server, doc_id, token=owner)[0] == "v2"
        assert len(server.http("GET", f"/api/documents/{doc_id}/versions", token=owner)[1]["versions"]) == 1


@pytest.mark.parametrize("payload, code", [
    ({}, "invalid_argument"),
    ({"name": ""}, "invalid_argument"),
    ({"name": "x" * 201}, "invalid_argument"),
    ({"name": "tab\there"}, "invalid_argument"),
    ({"name": "nul\u0000"}, "invalid_argument"),
    ({"name": 7}, "invalid_argument"),
    ({"name": "ok", "rev": -1}, "invalid_argument"),
    ({"name": "ok", "rev": None}, "invalid_argument"),
    ({"name": "bidi \u202e gnp.exe"}, "invalid_argument"),
    ({"name": "c1 \u0085 control"}, "invalid_argument"),
    ({"name": "zero\u200bwidth"}, "invalid_argument"),
    ({"name": "ok", "rev": 2 ** 64 - 1}, "invalid_argument"),
    ({"name": "ok", "rev": "2"}, "invalid_argument"),
    ({"name": "ok", "rev": 99}, "bad_rev"),
])
def test_bad_version_requests_get_clear_errors(payload, code):
    with Server() as server:
        seeded(server, "bad", "kept")
        status, body, _ = server.http("POST", "/api/documents/bad/versions", payload)
        assert 400 <= status < 500 and body["error"]["code"] == code, body
        assert body["error"]["message"]
        assert server.http("GET", "/api/documents/bad/versions")[1]["versions"] == []
        assert text_at(server, "bad")[0] == "kept"


@pytest.mark.parametrize("path, payload, status_code", [
    ("restore", {}, 400),
    ("restore", {"rev": 1, "version": 1}, 400),
    ("restore", {"version": 424242}, 404),
    ("restore", {"version": 2 ** 63}, 404),
    ("restore", {"rev": "1"}, 400),
    ("restore", {"rev": None}, 400),
    ("restore", {"rev": 2 ** 64 - 1}, 400),
    ("restore", {"version": None}, 400),
    ("restore", {"rev": 50}, 400),
    ("versions/abc", None, 400),
    ("versions/0", None, 400),
    ("versions/-3", None, 400),
    ("versions/99999999999999999999", None, 400),
    ("versions/77", None, 404),
])
def test_bad_restores_and_reads_get_clear_errors(path, payload, status_code):
    with Server() as server:
        seeded(server, "bad", "kept")
        method = "POST" if payload is not None else "GET"
        status, body, _ = server.http(method, f"/api/documents/bad/{path}", payload)
        assert status == status_code and body["error"]["message"], body
        assert text_at(server, "bad") == ("kept", 1)


def test_versions_are_deleted_by_the_owner_or_their_author_only():
    with Server(anonymous=False) as server:
        for name in ("owner", "writer", "other"):
            assert server.register(name)[0] == 201
        owner, writer, other = (server.login(n) for n in ("owner", "writer", "other"))
        status, doc, _ = server.http("POST", "/api/documents", {"title": "t"}, token=owner)
        doc_id = doc["id"]
        for name in ("writer", "other"):
            assert server.http("POST", f"/api/documents/{doc_id}/share", {"user": name, "role": "editor"},
                               token=owner)[0] == 200
        assert server.http("PUT", f"/api/documents/{doc_id}/text", {"text": "t"}, token=owner)[0] == 200
        mine = server.http("POST", f"/api/documents/{doc_id}/versions", {"name": "writer's"}, token=writer)[1]
        owners = server.http("POST", f"/api/documents/{doc_id}/versions", {"name": "owner's"}, token=owner)[1]
        # Another editor may delete neither.
        for v in (mine, owners):
            status, body, _ = server.http("DELETE", f"/api/documents/{doc_id}/versions/{v['id']}", token=other)
            assert status == 403 and body["error"]["code"] == "forbidden", body
        # The author deletes their own, not the owner's; the owner any.
        assert server.http("DELETE", f"/api/documents/{doc_id}/versions/{owners['id']}", token=writer)[0] == 403
        assert server.http("DELETE", f"/api/documents/{doc_id}/versions/{mine['id']}", token=writer)[0] == 204
        assert server.http("DELETE", f"/api/documents/{doc_id}/versions/{mine['id']}", token=owner)[0] == 404
        assert server.http("DELETE", f"/api/documents/{doc_id}/versions/{owners['id']}", token=owner)[0] == 204
        assert server.http("GET", f"/api/documents/{doc_id}/versions", token=owner)[1]["versions"] == []


def test_naming_versions_is_rate_limited_per_user():
    with Server() as server:
        seeded(server, "burst", "text")
        answers = [server.http("POST", "/api/documents/burst/versions", {"name": f"v{i}"})[0] for i in range(14)]
        assert answers[:10] == [201] * 10, answers
        assert 429 in answers[10:], answers
        status, body, _ = server.http("POST", "/api/documents/burst/versions", {"name": "again"})
        assert status in (201, 429) and (status == 201 or body["error"]["code"] == "rate_limited")


def test_on_a_document_without_an_owner_only_a_signed_in_author_deletes_a_version():
    with Server() as server:  # anonymous callers allowed: everyone edits ownerless documents
        seeded(server, "open-doc", "text")
        status, v, _ = server.http("POST", "/api/documents/open-doc/versions", {"name": "anonymous"})
        assert status == 201
        status, body, _ = server.http("DELETE", f"/api/documents/open-doc/versions/{v['id']}")
        assert status == 403 and body["error"]["code"] == "forbidden", body
        assert len(server.http("GET", "/api/documents/open-doc/versions")[1]["versions"]) == 1
