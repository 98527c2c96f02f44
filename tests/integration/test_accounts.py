"""Accounts, permissions and hostile input: every REST endpoint and
WebSocket message without a token, with a bad or expired token, on another
user's document and with a viewer's rights gets the right status or error,
and nothing changes. Runs on SQLite and on PostgreSQL."""

import asyncio
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest
import websockets

from stet_harness import BINARY, Client, Server, postgres_available

BACKENDS = ["sqlite", "postgres"]
TRICKY = "Robert'); DROP TABLE users;-- \"quoted\" 😀"


def backend_or_skip(backend):
    if backend == "postgres" and not postgres_available():
        pytest.skip("needs PostgreSQL (scripts/test.sh provides it)")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request):
    backend_or_skip(request.param)
    with Server(backend=request.param, anonymous=False) as s:
        for name in ("alice", "bob", "carol", TRICKY):
            assert s.register(name)[0] == 201
        yield s


def tokens(server):
    return {name: server.login(name) for name in ("alice", "bob", "carol")}


ENDPOINTS = [
    ("GET", "/api/documents", None),
    ("POST", "/api/documents", {"title": "x"}),
    ("GET", "/api/documents/some-doc", None),
    ("GET", "/api/documents/some-doc?rev=0", None),
    ("DELETE", "/api/documents/some-doc", None),
    ("POST", "/api/documents/some-doc/share", {"user": "bob", "role": "viewer"}),
    ("DELETE", "/api/documents/some-doc/share/bob", None),
    ("GET", "/api/documents/some-doc/history", None),
]


@pytest.mark.parametrize("method,path,body", ENDPOINTS)
def test_every_endpoint_refuses_missing_and_bad_tokens(server, method, path, body):
    for token in (None, "garbage", "eyJ1aWQiOjF9.forged-signature"):
        status, reply, headers = server.http(method, path, body, token=token)
        assert status == 401, (token, reply)
        assert reply["error"]["code"] == "unauthorized"
        assert headers.get("X-Content-Type-Options") == "nosniff"


def test_expired_token_is_refused_on_rest_and_websocket():
    async def main():
        with Server("--token-ttl-seconds", "1", anonymous=False) as s:
            s.register("dora")
            token = s.login("dora")
            assert s.http("GET", "/api/documents", token=token)[0] == 200
            time.sleep(2.1)
            for method, path, body in ENDPOINTS:
                status, reply, _ = s.http(method, path, body, token=token)
                assert status == 401 and "expired" in reply["error"]["message"], (method, path, reply)
            async with websockets.connect(s.ws_url) as ws:
                await ws.send(json.dumps({"hello": {"token": token}}))
                err = json.loads(await ws.recv())["error"]
                assert err["code"] == "unauthorized" and "expired" in err["message"]
    asyncio.run(main())


def test_register_and_login_validate_and_limit(server):
    assert server.register("alice")[0] == 409  # taken
    assert server.register("")[0] == 400
    assert server.register("evil/slash")[0] == 400
    assert server.register("short-pw", "1234567")[0] == 400
    assert server.http("POST", "/api/register", "not json")[0] == 400
    status, body, _ = server.http("POST", "/api/login", {"username": "alice", "password": "wrong password!"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, _, _ = server.http("POST", "/api/login", {"username": "nobody", "password": "wrong password!"})
    assert status == 401
    # Failed logins are limited per user (10 a minute): the 11th is refused.
    codes = [server.http("POST", "/api/login", {"username": "ratelimited", "password": "x" * 8})[0]
             for _ in range(12)]
    assert 429 in codes, codes


def test_usernames_and_titles_with_sql_metacharacters_round_trip(server):
    token = server.login(TRICKY)
    status, doc, _ = server.http("POST", "/api/documents", {"title": TRICKY, "policy": "merge"}, token=token)
    assert status == 201, doc
    assert doc["title"] == TRICKY and doc["role"] == "owner"
    status, listing, _ = server.http("GET", "/api/documents", token=token)
    assert [d["title"] for d in listing["documents"]] == [TRICKY]
    alice = server.login("alice")
    # Share with a user whose name is fine, then look the share up by the
    # tricky owner's own name in a URL path.
    assert server.http("POST", f"/api/documents/{doc['id']}/share", {"user": "alice", "role": "editor"},
                       token=token)[0] == 200
    status, got, _ = server.http("GET", f"/api/documents/{doc['id']}", token=alice)
    assert status == 200 and got["title"] == TRICKY and got["role"] == "editor"
    status, _, _ = server.http("DELETE", f"/api/documents/{doc['id']}/share/{urllib.parse.quote('alice')}",
                               token=token)
    assert status == 204
    assert server.http("GET", f"/api/documents/{doc['id']}", token=alice)[0] == 404


def test_documents_rights_over_rest_and_websocket(server):
    async def main():
        t = tokens(server)
        status, doc, _ = server.http("POST", "/api/documents", {"title": "plans", "public": False}, token=t["alice"])
        assert status == 201
        did = doc["id"]

        # Bob has no right: the document is invisible to him.
        for method, path, body in [("GET", f"/api/documents/{did}", None),
                                   ("GET", f"/api/documents/{did}/history", None),
                                   ("DELETE", f"/api/documents/{did}", None),
                                   ("POST", f"/api/documents/{did}/share", {"user": "bob", "role": "editor"})]:
            status, reply, _ = server.http(method, path, body, token=t["bob"])
            assert status == 404, (method, path, reply)

        a = await Client(server.ws_url, "alice-1").connect(token=t["alice"])
        assert a.welcome["username"] == "alice"
        await a.join(did)
        await a.edit(did, 1, [{"insert": "secret"}])
        await a.wait_for(lambda: 1 in a.acks)

        b = await Client(server.ws_url, "bob-1").connect(token=t["bob"])
        await b.ws.send(json.dumps({"join": {"docId": did}}))
        await b.wait_for(lambda: b.errors)
        assert b.errors[-1]["code"] == "forbidden"

        # Viewer: may read and join, not edit, delete or share.
        assert server.http("POST", f"/api/documents/{did}/share", {"user": "bob", "role": "viewer"},
                           token=t["alice"])[0] == 200
        status, got, _ = server.http("GET", f"/api/documents/{did}", token=t["bob"])
        assert status == 200 and got["text"] == "secret" and got["role"] == "viewer"
        assert server.http("DELETE", f"/api/documents/{did}", token=t["bob"])[0] == 403
        assert server.http("POST", f"/api/documents/{did}/share", {"user": "carol", "role": "editor"},
                           token=t["bob"])[0] == 403
        b.errors.clear()
        await b.join(did)
        await b.edit(did, 1, [{"insert": "bob was here"}])
        await b.wait_for(lambda: b.errors)
        assert b.errors[-1]["code"] == "forbidden"
        assert server.get_document_as(did, t["alice"])["text"] == "secret"

        # Promoted to editor while connected: the next edit lands.
        assert server.http("POST", f"/api/documents/{did}/share", {"user": "bob", "role": "editor"},
                           token=t["alice"])[0] == 200
        await asyncio.sleep(0.1)
        await b.edit(did, 2, [{"insert": "+"}])
        await b.wait_for(lambda: 2 in b.acks)

        # Revoked: told so, and its edits stop.
        assert server.http("DELETE", f"/api/documents/{did}/share/bob", token=t["alice"])[0] == 204
        await b.wait_for(lambda: any("revoked" in e["message"] for e in b.errors))
        await b.edit(did, 3, [{"insert": "late"}])
        await b.wait_for(lambda: b.errors[-1]["code"] == "not_joined")
        text = server.get_document_as(did, t["alice"])["text"]
        assert "late" not in text and text == "+secret"

        # History names the authors; an old revision can be read back.
        status, hist, _ = server.http("GET", f"/api/documents/{did}/history", token=t["alice"])
        assert [h["author"] for h in hist["history"]] == ["alice", "bob"]
        status, old, _ = server.http("GET", f"/api/documents/{did}?rev=1", token=t["alice"])
        assert status == 200 and old["text"] == "secret" and old["rev"] == 1
        assert server.http("GET", f"/api/documents/{did}?rev=99", token=t["alice"])[0] == 400
        assert server.http("GET", f"/api/documents/{did}?rev=x", token=t["alice"])[0] == 400

        # Lists: mine and shared with me.
        listing = server.http("GET", "/api/documents", token=t["alice"])[1]["documents"]
        assert did in [d["id"] for d in listing]
        assert did not in [d["id"] for d in server.http("GET", "/api/documents", token=t["bob"])[1]["documents"]]

        # Only the owner deletes; open sessions hear of it.
        assert server.http("DELETE", f"/api/documents/{did}", token=t["alice"])[0] == 204
        await a.wait_for(lambda: any(e["code"] == "unknown_document" for e in a.errors))
        assert server.http("GET", f"/api/documents/{did}", token=t["alice"])[0] == 404
        for c in (a, b):
            await c.close()

    asyncio.run(main())


def test_public_documents_are_readable_not_writable(server):
    async def main():
        t = tokens(server)
        doc = server.http("POST", "/api/documents", {"title": "notice", "public": True}, token=t["alice"])[1]
        c = await Client(server.ws_url, "carol-1").connect(token=t["carol"])
        snap = await c.join(doc["id"])
        assert snap["rev"] == "0"
        await c.edit(doc["id"], 1, [{"insert": "graffiti"}])
        await c.wait_for(lambda: c.errors)
        assert c.errors[-1]["code"] == "forbidden"
        assert server.http("GET", f"/api/documents/{doc['id']}", token=t["carol"])[1]["role"] == "viewer"
        await c.close()

    asyncio.run(main())


def test_websocket_without_token_is_refused_but_survives(server):
    async def main():
        c = await Client(server.ws_url, "anon").connect()
        await c.ws.send(json.dumps({"join": {"docId": "anything"}}))
        await c.wait_for(lambda: c.errors)
        assert c.errors[-1]["code"] == "unauthorized"
        await c.ws.send(json.dumps({"hello": {"token": "forged.token"}}))
        await c.wait_for(lambda: len(c.errors) == 2)
        assert c.errors[-1]["code"] == "unauthorized"
        await c.ws.send(json.dumps({"ping": {}}))
        await c.wait_for(lambda: any("pong" in m for m in c.other))
        await c.close()

    asyncio.run(main())


def test_origin_is_checked():
    async def main():
        with Server() as s:
            host = f"127.0.0.1:{s.port}"
            async with websockets.connect(s.ws_url, origin=f"http://{host}") as ws:
                await ws.send(json.dumps({"ping": {}}))
                assert "pong" in json.loads(await ws.recv())
            with pytest.raises(websockets.InvalidStatusCode) as e:
                await websockets.connect(s.ws_url, origin="http://evil.example")
            assert e.value.status_code == 403
        with Server("--allowed-origin", "https://app.example") as s:
            async with websockets.connect(s.ws_url, origin="https://app.example"):
                pass
            with pytest.raises(websockets.InvalidStatusCode):
                await websockets.connect(s.ws_url, origin=f"http://127.0.0.1:{s.port}")

    asyncio.run(main())


def test_connections_per_ip_and_edits_per_second_are_limited():
    async def main():
        with Server("--max-connections-per-ip", "3") as s:
            held = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(3)]
            extra = socket.create_connection(("127.0.0.1", s.port))
            reply = extra.recv(4096).decode()
            assert reply.startswith("HTTP/1.1 429") and "rate_limited" in reply
            for h in held + [extra]:
                h.close()
        with Server("--max-edits-per-second", "5", anonymous=True) as s:
            # anonymous=True passes a huge limit first; the later flag wins.
            c = await Client(s.ws_url, "fast").connect()
            await c.join("limited")
            for seq in range(1, 31):
                await c.edit("limited", seq, [{"insert": "x"}], base_rev=0)
            await c.wait_for(lambda: len(c.acks) + len(c.errors) == 30)
            limited = [e for e in c.errors if e["code"] == "rate_limited"]
            assert limited and len(c.acks) >= 10
            await c.close()

    asyncio.run(main())


def test_static_files_never_leave_the_web_root():
    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as outside:
        web = os.path.join(root, "web")
        os.makedirs(os.path.join(web, "assets"))
        with open(os.path.join(web, "index.html"), "w") as f:
            f.write("<!doctype html><title>stet</title>")
        with open(os.path.join(web, "assets", "app.js"), "w") as f:
            f.write("console.log('stet')")
        with open(os.path.join(outside, "secret.txt"), "w") as f:
            f.write("top secret")
        os.symlink(os.path.join(outside, "secret.txt"), os.path.join(web, "leak.txt"))
        with Server("--web-root", web) as s:
            status, body, headers = s.http("GET", "/")
            assert status == 200 and b"<title>stet</title>" in body
            assert headers["Content-Type"].startswith("text/html")
            assert "Content-Security-Policy" in headers and headers["X-Frame-Options"] == "DENY"
            assert s.http("GET", "/assets/app.js")[0] == 200
            for path in ["/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/%2e%2e/etc/passwd",
                         "/assets/%2E%2E/%2E%2E/etc/passwd", "/..%5c..%5cetc/passwd", "/a%00b", "/%zz"]:
                status, body, _ = s.http("GET", path)
                assert status == 400, (path, status)
            assert s.http("GET", "/leak.txt")[0] == 404  # symlink out of the root
            assert s.http("GET", "/nope.js")[0] == 404


def test_static_files_come_from_memory_with_etags_gzip_and_bodiless_heads():
    with tempfile.TemporaryDirectory() as web:
        bundle = "export const x = 1;\n" * 5000
        with open(os.path.join(web, "index.html"), "w") as f:
            f.write("<!doctype html><title>stet</title>")
        with open(os.path.join(web, "app.js"), "w") as f:
            f.write(bundle)
        with open(os.path.join(web, "font-4F2A9C1B.ttf"), "wb") as f:
            f.write(os.urandom(3000))
        with Server("--web-root", web) as s:
            status, body, headers = s.http("GET", "/app.js")
            assert status == 200 and body == bundle.encode()
            etag = headers["ETag"]
            assert headers["Cache-Control"] == "no-cache" and "Content-Encoding" not in headers
            assert "connect-src 'self'" in headers["Content-Security-Policy"]
            assert "base-uri 'none'" in headers["Content-Security-Policy"]
            # Revalidation costs no body.
            status, body, _ = s.http("GET", "/app.js", headers={"If-None-Match": etag})
            assert status == 304 and not body
            # HEAD: the headers of GET, the length of its body, no body.
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
            conn.request("HEAD", "/app.js")
            r = conn.getresponse()
            assert r.status == 200 and int(r.getheader("Content-Length")) == len(bundle) and r.read() == b""
            conn.close()
            # Compressed once at start, for those who accept it.
            import gzip as gz
            status, body, headers = s.http("GET", "/app.js", headers={"Accept-Encoding": "gzip, br"})
            assert status == 200 and headers["Content-Encoding"] == "gzip"
            assert gz.decompress(body) == bundle.encode() and len(body) < len(bundle) / 10
            assert headers["ETag"] != etag
            # A name carrying its content hash never changes: cached for good.
            status, _, headers = s.http("GET", "/font-4F2A9C1B.ttf")
            assert status == 200 and "immutable" in headers["Cache-Control"]
            # Served from memory: the file going away changes nothing.
            os.remove(os.path.join(web, "app.js"))
            assert s.http("GET", "/app.js")[0] == 200


def test_the_default_web_root_is_the_built_web_client():
    # The checkout's web/dist, as `stet serve --help` says (scripts/test.sh builds it).
    dist = os.path.join(os.path.dirname(BINARY), "..", "web", "dist", "index.html")
    if not os.path.exists(dist):
        pytest.skip("web/dist is not built (scripts/build-web.sh)")
    with Server() as s:
        status, body, headers = s.http("GET", "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert s.http("HEAD", "/")[0] == 200


def test_no_token_key_means_no_start_outside_quick_start_mode():
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if k != "STET_AUTH_SECRET"}
        r = subprocess.run([BINARY, "serve", "--listen", "127.0.0.1:0", "--data", data], env=env,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2
        assert "--auth-secret-file" in r.stderr
