"""Abuse and exhaustion: guessed passwords, registration floods, clients that
never read, spoofed forwarding headers, DNS rebinding, quotas. Real stet
processes and WebSocket clients."""

import asyncio
import json
import time

import websockets

from adversary_support import raw
from stet_harness import Client, Server


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
