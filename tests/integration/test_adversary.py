"""Trust boundaries, tried as an attacker would: a byte no backend can
store, a participant who copies someone else's client id, a revoke or a
delete sent to a node that does not own the document, and anything that can
PUBLISH to Redis. Each test fails on a server that trusts what it is sent.
Real servers throughout: stet processes, redis-server, PostgreSQL."""

import asyncio
import hashlib
import hmac
import json
import struct
import time
import urllib.request

import pytest
import websockets

from stet_harness import Client, RedisServer, Server, postgres_available, psql

BACKENDS = ["sqlite", "postgres"]


def backend_or_skip(backend):
    if backend == "postgres" and not postgres_available():
        pytest.skip("needs PostgreSQL (scripts/test.sh provides it)")


async def raw(url, hello):
    ws = await websockets.connect(url)
    await ws.send(json.dumps({"hello": hello}))
    welcome = json.loads(await ws.recv())
    assert "welcome" in welcome, welcome
    return ws, welcome["welcome"]


async def next_matching(ws, predicate, timeout=10):
    deadline = time.time() + timeout
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.time())))
        if predicate(m):
            return m


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


# -- a cluster: two nodes, real Redis and PostgreSQL --

cluster = pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")


@pytest.fixture
def database():
    name = f"stet_adv_{int(time.time() * 1000)}"
    psql(f"CREATE DATABASE {name}")
    yield name
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def open_documents(node):
    return node.metric("stet_open_documents") or 0


def wait_for_ring(nodes, size, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(n.metric("stet_cluster_nodes") == size and n.readyz()[0] == 200 for n in nodes):
            return
        time.sleep(0.1)
    raise TimeoutError(f"cluster did not settle on {size} nodes")


def two_nodes(redis, database, *args):
    nodes = [Server("--redis", redis.url, "--node-id", name, *args, backend="postgres", database=database,
                    anonymous=False).start() for name in ("n1", "n2")]
    wait_for_ring(nodes, 2)
    return nodes


@cluster
def test_revoke_and_delete_sent_to_the_non_owner_reach_the_owners_sessions(database):
    with RedisServer() as redis:
        n1, n2 = two_nodes(redis, database)
        try:
            for name in ("alice", "bob"):
                assert n1.register(name)[0] == 201
            alice, bob = n1.login("alice"), n1.login("bob")

            async def one_document(i):
                status, doc, _ = n1.http("POST", "/api/documents", {"title": f"d{i}"}, token=alice)
                doc_id = doc["id"]
                assert n1.http("POST", f"/api/documents/{doc_id}/share", {"user": "bob", "role": "editor"},
                               token=alice)[0] == 200
                before = [open_documents(n) for n in (n1, n2)]
                c = await Client(n1.ws_url, f"bob-{i}").connect(token=bob)
                await c.join(doc_id)
                await c.edit(doc_id, 1, [{"insert": "bob was here"}])
                await c.wait_for(lambda: 1 in c.acks)
                owner = n1 if open_documents(n1) > before[0] else n2
                other = n2 if owner is n1 else n1
                return doc_id, c, owner, other

            async def scenario():
                # Revoke and delete, each for a document owned by n1 and one owned by n2.
                todo = {(port, action) for port in (n1.port, n2.port) for action in ("revoke", "delete")}
                for i in range(40):
                    if not todo:
                        return
                    doc_id, c, owner, other = await one_document(i)
                    action = next((a for p, a in sorted(todo) if p == owner.port), None)
                    if action is None:
                        await c.close()
                        continue
                    todo.discard((owner.port, action))
                    if action == "revoke":
                        assert other.http("DELETE", f"/api/documents/{doc_id}/share/bob", token=alice)[0] == 204
                        await c.wait_for(lambda: any(e["code"] == "forbidden" for e in c.errors), timeout=10)
                        await c.edit(doc_id, 2, [{"insert": "still?"}])
                        await c.wait_for(lambda: any(e.get("clientSeq") == "2" for e in c.errors), timeout=10)
                        assert 2 not in c.acks
                        status, body, _ = owner.http("GET", f"/api/documents/{doc_id}", token=alice)
                        assert "still?" not in body["text"]
                    else:
                        assert other.http("DELETE", f"/api/documents/{doc_id}", token=alice)[0] == 204
                        await c.wait_for(lambda: any(e["code"] == "unknown_document" for e in c.errors), timeout=10)
                        # Joining again does not bring it back, on either node.
                        for n in (n1, n2):
                            ws, _ = await raw(n.ws_url, {"token": bob})
                            await ws.send(json.dumps({"join": {"docId": doc_id}}))
                            err = await next_matching(ws, lambda m: "error" in m or "snapshot" in m)
                            assert "error" in err and err["error"]["code"] == "unknown_document", err
                            await ws.close()
                        assert n1.http("GET", f"/api/documents/{doc_id}", token=alice)[0] == 404
                    await c.close()
                assert not todo, f"no document among 40 for {todo}"
            asyncio.run(scenario())
        finally:
            for n in (n1, n2):
                n.stop()


def seal(key, channel, body, sent_ms=None, stream=0xA77AC6E2, seq=None):
    """The bus's sealed form (auth/bus_seal.hpp): version 2, sent time,
    stream and number, the MAC, the body."""
    global _sealed
    _sealed += 1
    sent_ms = int(time.time() * 1000) if sent_ms is None else sent_ms
    header = bytes([2]) + struct.pack(">QQQ", sent_ms, stream, _sealed if seq is None else seq)
    mac = hmac.new(key, channel.encode() + b"\0" + header + body, hashlib.sha256).digest()
    return header + mac + body


_sealed = 0


class BusRecorder:
    """Records every payload published on stet's channels, as anyone who
    can reach Redis could."""

    def __init__(self, redis):
        import socket
        import threading
        self.sock = socket.create_connection(("127.0.0.1", redis.port), timeout=30)
        self.sock.sendall(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$6\r\nstet:*\r\n")
        self.seen = []
        self.buf = b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _bulk(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        if line[:1] in (b"*", b":"):
            return line
        n = int(line[1:])
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(65536)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read(self):
        try:
            while True:
                head = self._bulk()
                items = [self._bulk() for _ in range(int(head[1:]))]
                if items[0] == b"pmessage":
                    self.seen.append((items[2].decode(), items[3]))
        except OSError:
            return

    def close(self):
        self.sock.close()


def field(number, payload):
    """A length-delimited protobuf field (enough to write BusEnvelopes by hand)."""
    if isinstance(payload, str):
        payload = payload.encode()
    out, n = bytearray([(number << 3) | 2]), len(payload)
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + payload


@cluster
def test_forged_replayed_and_nested_bus_payloads_are_dropped_and_counted(database):
    with RedisServer() as redis:
        n1, n2 = two_nodes(redis, database, "--log-level", "debug")
        try:
            n1.register("alice")
            alice = n1.login("alice")
            status, doc, _ = n1.http("POST", "/api/documents", {"title": "target"}, token=alice)
            doc_id = doc["id"]

            async def scenario():
                c = await Client(n1.ws_url, "alice-1").connect(token=alice)
                await c.join(doc_id)
                await c.edit(doc_id, 1, [{"insert": "original"}])
                await c.wait_for(lambda: 1 in c.acks)
                session = c.welcome["sessionId"]
                # Forge: an edit for alice's session, and a frame pushed to her.
                forged_edit = (field(1, "n2") + field(2, doc_id)
                               + field(4, field(1, session) + field(2, "alice-1") + field(6, field(2, "PWNED"))))
                error = field(7, field(1, "forbidden") + field(2, "forged"))
                forged_frame = field(1, "n2") + field(2, doc_id) + field(7, field(1, session) + field(2, error))
                key = Server.CLUSTER_SECRET.encode()
                for channel in ("stet:node:n1", "stet:node:n2"):
                    for body in (forged_edit, forged_frame):
                        redis.cli("PUBLISH", channel, body)                              # unsealed
                        redis.cli("PUBLISH", channel, seal(b"x" * 40, channel, body))   # wrong key
                        redis.cli("PUBLISH", channel, seal(key, "stet:node:other", body))  # wrong channel
                        redis.cli("PUBLISH", channel, seal(key, channel, body, int(time.time() * 1000) - 120000))
                    nested = field(1, "n2") + field(11, field(1, field(11, field(1, forged_edit))))
                    redis.cli("PUBLISH", channel, seal(key, channel, nested))
                # A member without the cluster key: not in anyone's ring.
                redis.cli("ZADD", "stet:nodes", str(int(time.time() * 1000) + 600000), "evil")
                # Genuine payloads, recorded and published again at once.
                recorder = BusRecorder(redis)
                await asyncio.sleep(0.2)
                other = await Client(n2.ws_url, "alice-2").connect(token=alice)
                await other.join(doc_id)
                for seq in range(1, 4):
                    await other.edit(doc_id, seq, [{"insert": f"<{seq}>"}], base_rev=other.rev)
                    await other.wait_for(lambda: seq in other.acks)
                await asyncio.sleep(0.3)
                recorded = list(recorder.seen)
                recorder.close()
                assert recorded, "no bus traffic recorded"
                for channel, payload in recorded:
                    redis.cli("PUBLISH", channel, payload)
                await asyncio.sleep(2.5)
                assert not c.errors and not other.errors, (c.errors, other.errors)
                assert "PWNED" not in c.text
                await c.wait_for(lambda: c.text == other.text)
                await c.close()
                await other.close()
                return len(recorded)
            recorded = asyncio.run(scenario())
            replayed = sum(n.metric("stet_bus_rejected_total", '{reason="replayed"}') or 0 for n in (n1, n2))
            assert replayed >= 1, (replayed, recorded)
            for n in (n1, n2):
                assert n.metric("stet_cluster_nodes") == 2
                assert n.metric("stet_bus_rejected_total", '{reason="malformed"}') >= 2
                assert n.metric("stet_bus_rejected_total", '{reason="bad_mac"}') >= 4
                assert n.metric("stet_bus_rejected_total", '{reason="stale"}') >= 2
                assert n.metric("stet_bus_rejected_total", '{reason="nested_batch"}') >= 1
                assert n.metric("stet_bus_rejected_total", '{reason="foreign_member"}') >= 1
            status, body, _ = n1.http("GET", f"/api/documents/{doc_id}", token=alice)
            assert body["text"].count("original") == 1 and all(body["text"].count(f"<{i}>") == 1 for i in (1, 2, 3))
        finally:
            for n in (n1, n2):
                n.stop()


@cluster
def test_payloads_recorded_before_a_restart_are_not_played_to_the_new_process(database):
    with RedisServer() as redis:
        n1, n2 = two_nodes(redis, database)
        try:
            n1.register("alice")
            alice = n1.login("alice")
            status, doc, _ = n1.http("POST", "/api/documents", {"title": "target"}, token=alice)
            doc_id = doc["id"]
            recorder = BusRecorder(redis)
            time.sleep(0.2)

            async def edit_through_both():
                clients = [await Client(n.ws_url, f"alice-{i}").connect(token=alice) for i, n in enumerate((n1, n2))]
                for c in clients:
                    await c.join(doc_id)
                for seq in range(1, 4):
                    for i, c in enumerate(clients):
                        await c.edit(doc_id, seq, [{"insert": f"<{i}.{seq}>"}], base_rev=c.rev)
                        await c.wait_for(lambda: seq in c.acks)
                await clients[0].wait_for(lambda: clients[0].text == clients[1].text)
                text = clients[0].text
                for c in clients:
                    await c.close()
                return text
            text = asyncio.run(edit_through_both())
            recorded_at = time.time()
            time.sleep(0.3)
            recorded = list(recorder.seen)
            recorder.close()
            owner = n1 if open_documents(n1) >= 1 else n2
            assert any(ch == f"stet:node:{'n1' if owner is n1 else 'n2'}" for ch, _ in recorded), recorded
            # Past the slack for clock differences, the owner restarts and
            # knows no sender's stream any more.
            time.sleep(2.5)
            owner.restart()
            wait_for_ring([n1, n2], 2)
            for channel, payload in recorded:
                redis.cli("PUBLISH", channel, payload)
            time.sleep(1.0)
            assert time.time() - recorded_at < 25, "recorded payloads went stale before they were played back"
            assert (owner.metric("stet_bus_rejected_total", '{reason="predates_subscription"}') or 0) >= 1
            status, body, _ = owner.http("GET", f"/api/documents/{doc_id}", token=alice)
            assert status == 200 and body["text"] == text
        finally:
            for n in (n1, n2):
                n.stop()


@cluster
def test_redis_with_requirepass_works_and_a_wrong_password_is_not_ready(database):
    with RedisServer(password="s3cret-redis-pass") as redis:
        n1, n2 = two_nodes(redis, database)
        try:
            n1.register("alice")
            alice = n1.login("alice")

            async def relay():
                # Documents on both nodes, edited through n1: some relayed.
                for i in range(6):
                    c = await Client(n1.ws_url, f"a{i}").connect(token=alice)
                    await c.join(f"pw-{i}")
                    await c.edit(f"pw-{i}", 1, [{"insert": "through redis"}])
                    await c.wait_for(lambda: 1 in c.acks)
                    await c.close()
            asyncio.run(relay())
            assert n1.metric("stet_remote_documents") is not None
            wrong = redis.url.replace("s3cret-redis-pass", "wrong-password")
            with Server("--redis", wrong, "--node-id", "n3", backend="postgres", database=database,
                        anonymous=False) as n3:
                deadline = time.time() + 5
                while time.time() < deadline and "refused the login" not in n3.log():
                    time.sleep(0.1)
                # /readyz on the public port (no --metrics-listen) names the
                # dependency, never what it said.
                assert n3.readyz() == (503, {"status": "not_ready", "reason": "redis unreachable"})
                assert "refused the login" in n3.log()
                assert "wrong-password" not in n3.log() and "wrong-password" not in json.dumps(n3.readyz()[1])
            assert n1.metric("stet_cluster_nodes") == 2
        finally:
            for n in (n1, n2):
                n.stop()


# -- abuse and exhaustion --

def http_from(server, source_ip, method, path, body=None):
    """One request from `source_ip` (any 127.x address reaches a loopback server)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=(source_ip, 0))
    conn.request(method, path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    status, raw = r.status, r.read()
    conn.close()
    return status, json.loads(raw) if raw else None


def test_parallel_login_guesses_are_charged_before_checking_and_never_lock_the_user_out():
    with Server(anonymous=False) as server:
        assert server.register("alice", "the right password")[0] == 201
        from concurrent.futures import ThreadPoolExecutor
        guess = {"username": "alice", "password": "a wrong guess"}
        with ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(lambda _: http_from(server, "127.0.0.1", "POST", "/api/login", guess)[0],
                                     range(40)))
        assert statuses.count(401) <= 10, statuses      # the (user, address) burst
        assert statuses.count(429) >= 30, statuses
        right = {"username": "alice", "password": "the right password"}
        assert http_from(server, "127.0.0.1", "POST", "/api/login", right)[0] == 429
        # The guesser slowed only themselves: alice logs in from elsewhere.
        status, body = http_from(server, "127.0.0.2", "POST", "/api/login", right)
        assert status == 200 and body["token"]
        # A right password costs nothing: logging in again and again works.
        for _ in range(15):
            assert http_from(server, "127.0.0.2", "POST", "/api/login", right)[0] == 200
        # Unknown users take the same path and answer the same.
        status, body = http_from(server, "127.0.0.3", "POST", "/api/login", {"username": "nobody", "password": "x" * 9})
        assert status == 401 and body["error"]["message"] == "wrong username or password"


def test_registrations_are_limited_per_address_and_the_hash_queue_is_bounded():
    with Server("--max-password-hashes", "1", anonymous=False) as server:
        from concurrent.futures import ThreadPoolExecutor
        def register(i):
            return http_from(server, "127.0.0.4", "POST", "/api/register",
                             {"username": f"user{i}", "password": "long enough password"})
        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(register, range(12)))
        codes = [s for s, _ in results]
        assert 201 in codes
        busy = [b for s, b in results if s == 503]
        assert busy and all(b["error"]["code"] == "overloaded" for b in busy), codes
        created = codes.count(201)
        for i in range(12, 40):
            status, body = register(i)
            if status == 429:
                break
            created += status == 201
        assert status == 429 and body["error"]["code"] == "rate_limited", (status, body)
        assert created == 20
        assert http_from(server, "127.0.0.5", "POST", "/api/register",
                         {"username": "elsewhere", "password": "long enough password"})[0] == 201


def test_a_client_that_never_reads_is_cut_off_by_the_write_timeout():
    import base64
    import os
    import socket
    with Server("--write-timeout-ms", "1500") as server:
        async def fill():
            w = await Client(server.ws_url, "filler").connect()
            for i in range(10):
                await w.join(f"big-{i}")
                await w.edit(f"big-{i}", i + 1, [{"insert": "x" * 900_000}])
                await w.wait_for(lambda: i + 1 in w.acks, timeout=60)
            await w.close()
        asyncio.run(fill())
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", server.port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        assert b" 101 " in head

        def frame(text):
            data, mask = text.encode(), os.urandom(4)
            return bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        s.sendall(frame(json.dumps({"hello": {"clientId": "sleeper"}})))
        for i in range(10):
            s.sendall(frame(json.dumps({"join": {"docId": f"big-{i}"}})))
            time.sleep(0.05)
        # It never reads another byte; the server gives up on it.
        deadline = time.time() + 20
        while time.time() < deadline and "closing a client that does not read" not in server.log():
            time.sleep(0.1)
        assert "closing a client that does not read" in server.log()
        deadline = time.time() + 5
        while time.time() < deadline and server.metric("stet_websocket_sessions") != 0:
            time.sleep(0.1)
        assert server.metric("stet_websocket_sessions") == 0
        s.close()


def test_forwarded_for_counts_only_from_a_trusted_proxy():
    guess = {"username": "alice", "password": "a wrong guess"}

    def login_as(server, source, forwarded):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=(source, 0))
        conn.request("POST", "/api/login", body=json.dumps(guess),
                     headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded})
        status = conn.getresponse().status
        conn.close()
        return status

    with Server("--trusted-proxy", "127.0.0.1/32", anonymous=False) as server:
        server.register("alice", "the right password")
        # Behind the proxy, each forwarded client has its own budget.
        assert [login_as(server, "127.0.0.1", "203.0.113.5") for _ in range(12)].count(429) >= 2
        assert login_as(server, "127.0.0.1", "203.0.113.6") == 401
        # A peer that is not a proxy cannot pick its address.
        statuses = [login_as(server, "127.0.0.9", f"198.51.100.{i}") for i in range(12)]
        assert statuses.count(429) >= 2, statuses
        # A port after the address (as some load balancers write it) is the same client.
        assert [login_as(server, "127.0.0.1", f"203.0.113.8:{4000 + i}") for i in range(12)].count(429) >= 2

        # HSTS only when the trusted proxy says the client came over TLS.
        def hsts(source, proto):
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=(source, 0))
            conn.request("GET", "/healthz", headers={"X-Forwarded-Proto": proto})
            r = conn.getresponse()
            r.read()
            conn.close()
            return r.getheader("Strict-Transport-Security")

        assert hsts("127.0.0.1", "https") == "max-age=31536000"
        assert hsts("127.0.0.1", "http") is None
        assert hsts("127.0.0.9", "https") is None


def test_dns_rebinding_origins_are_refused_and_probes_stay_off_the_public_port():
    with Server("--metrics-listen", "127.0.0.1:0") as server:
        async def handshake(origin, host):
            try:
                ws = await websockets.connect(server.ws_url, origin=origin,
                                              extra_headers={"Host": host} if host else None)
                await ws.close()
                return 101
            except websockets.InvalidStatusCode as e:
                return e.status_code
        here = f"127.0.0.1:{server.port}"
        assert asyncio.run(handshake(f"http://{here}", None)) == 101
        rebound = f"attacker.example:{server.port}"
        assert asyncio.run(handshake(f"http://{rebound}", rebound)) == 403
        assert server.http("GET", "/metrics")[0] == 404
        assert server.http("GET", "/readyz")[0] == 404
        assert server.http("GET", "/healthz")[0] == 200


def test_quotas_on_joins_documents_and_what_one_address_may_have_queued():
    # anonymous=False drops the harness's generous limits; anonymous sessions are allowed here.
    with Server("--allow-anonymous", "--max-documents-per-hour", "20", "--max-joins-per-second", "5",
                "--max-queued-bytes-per-ip", "3000000", anonymous=False) as server:
        async def scenario():
            c = await Client(server.ws_url, "quota").connect()
            # An anonymous address may create 20 / 10 = 2 documents an hour.
            await c.join("q-1")
            await c.join("q-2")
            c.errors.clear()
            await c.ws.send(json.dumps({"join": {"docId": "q-3"}}))
            await c.wait_for(lambda: c.errors)
            assert c.errors[-1]["code"] == "rate_limited" and "documents" in c.errors[-1]["message"]
            # Joining what exists costs no quota; joining in a loop is slowed.
            for _ in range(20):
                await c.ws.send(json.dumps({"join": {"docId": "q-1"}}))
            await c.wait_for(lambda: any("joins per second" in e["message"] for e in c.errors))
            await c.close()
            for i in range(3):
                w = await Client(server.ws_url, f"w{i}").connect()
                await asyncio.sleep(0.5)  # joins refill
                await w.join("q-1" if i == 0 else "q-2")
                await w.edit("q-1" if i == 0 else "q-2", 1 + i, [{"insert": "y" * 900_000}])
                await w.wait_for(lambda: 1 + i in w.acks, timeout=60)
                await w.close()
        asyncio.run(scenario())
        # Sessions that never read, from one address: together they may not
        # hold more than 3 MB, although each may hold 16.
        import socket
        sockets = []
        for i in range(4):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", server.port))
            s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(1)
            for doc in ("q-1", "q-2", "q-1", "q-2"):
                text = json.dumps({"join": {"docId": doc}}).encode()
                s.sendall(bytes([0x81, 0x80 | len(text)]) + b"\0\0\0\0" + text)
                time.sleep(0.3)
            sockets.append(s)
        deadline = time.time() + 10
        while time.time() < deadline and (server.metric("stet_slow_consumer_closes_total") or 0) < 1:
            time.sleep(0.1)
        assert server.metric("stet_slow_consumer_closes_total") >= 1
        for s in sockets:
            s.close()


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


@cluster
def test_a_logout_on_one_node_reaches_sessions_on_another(database):
    with RedisServer() as redis:
        n1, n2 = two_nodes(redis, database)
        try:
            n1.register("alice", "first password")
            token = n1.login("alice", "first password")

            async def scenario():
                c = await Client(n2.ws_url, "alice-2").connect(token=token)
                await c.join("cross-node-logout")
                assert n1.http("POST", "/api/logout", token=token)[0] == 204
                await c.wait_for(lambda: any(e["code"] == "token_expired" for e in c.errors), timeout=10)
                assert n2.http("GET", "/api/documents", token=token)[0] == 401
                await c.close()
            asyncio.run(scenario())
        finally:
            for n in (n1, n2):
                n.stop()
