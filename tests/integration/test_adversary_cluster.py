"""Trust between nodes, tried as an attacker would: a revoke or a delete sent
to a node that does not own the document, and anything that can PUBLISH to
Redis (forged, replayed or nested payloads, recordings played to a restarted
node, Redis with a password). Two stet nodes, real redis-server and
PostgreSQL."""

import asyncio
import hashlib
import hmac
import json
import struct
import time


from adversary_support import raw, next_matching, cluster, database, open_documents, wait_for_ring, two_nodes
from stet_harness import Client, RedisServer, Server


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
