"""Webhooks: a real stet delivers document and session events to local
HTTP and HTTPS receivers, signed, debounced, retried, and still after a
SIGKILL right after the commit that caused them."""

import asyncio
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stet_harness import Client, Server, postgres_available

SECRET = "webhook-signing-key-0123456789abcdef-0123"
backends = ["sqlite"] + (["postgres"] if postgres_available() else [])


class Receiver:
    """A local webhook receiver recording what it was sent; `status` is
    what it answers (a 5xx makes stet retry)."""

    def __init__(self, tls_cert=None):
        self.events, self.status, self.lock = [], 200, threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    status = receiver.status
                    if status == 200:
                        receiver.events.append((dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls_cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls_cert)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hooks/stet"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()

    def bodies(self, event=None):
        with self.lock:
            out = []
            for headers, body in self.events:
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                assert headers["X-Stet-Signature"] == expected, headers
                parsed = json.loads(body)
                assert headers["X-Stet-Event"] == parsed["event"]
                parsed["_delivery"] = headers["X-Stet-Delivery"]
                if event is None or parsed["event"] == event:
                    out.append(parsed)
            return out

    def wait_for(self, predicate, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"not delivered in time: {self.bodies()}")


def secret_file(directory):
    path = os.path.join(directory, "webhook.secret")
    with open(path, "w") as f:
        f.write(SECRET + "\n")
    return path


def webhook_args(receiver, directory, debounce=400, max_wait=1500):
    return ["--webhook-url", receiver.url, "--webhook-secret-file", secret_file(directory),
            "--webhook-debounce-ms", str(debounce), "--webhook-max-wait-ms", str(max_wait)]


@pytest.mark.parametrize("backend", backends)
def test_document_and_session_events_are_signed_and_changes_debounced(backend):
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as d, Server(*webhook_args(receiver, d), anonymous=False,
                                                    backend=backend) as server:
        assert server.register("ada")[0] == 201
        token = server.login("ada")
        status, doc, _ = server.http("POST", "/api/documents", {"title": "hooked"}, token=token)
        doc_id = doc["id"]

        async def typing():
            c = await Client(server.ws_url, "ada-laptop").connect(token=token)
            await c.join(doc_id)
            # 24 edits 100 ms apart: never quiet for the 400 ms debounce, so
            # the 1.5 s longest wait sends one in between.
            for seq in range(1, 25):
                await c.edit(doc_id, seq, [{"insert": f"{seq % 10}"}])
                await asyncio.sleep(0.1)
            await c.wait_for(lambda: len(c.acks) == 24)
            text, rev = c.text, c.rev
            await c.close()
            return text, rev
        text, rev = asyncio.run(typing())
        receiver.wait_for(lambda r: any(b["rev"] == rev for b in r.bodies("document.changed")))
        receiver.wait_for(lambda r: len(r.bodies("session.left")) == 1)
        changed = receiver.bodies("document.changed")
        assert 2 <= len(changed) <= 4, changed  # debounced: not one per edit
        assert changed[-1]["text"] == text and changed[-1]["docId"] == doc_id
        assert [b["rev"] for b in changed] == sorted(b["rev"] for b in changed)
        created = receiver.bodies("document.created")
        assert [b["docId"] for b in created] == [doc_id]
        joined, left = receiver.bodies("session.joined"), receiver.bodies("session.left")
        assert joined[0]["user"] == "ada" and joined[0]["node"] and joined[0]["docId"] == doc_id
        assert left[0]["sessionId"] == joined[0]["sessionId"]
        assert server.http("DELETE", f"/api/documents/{doc_id}", token=token)[0] == 204
        receiver.wait_for(lambda r: len(r.bodies("document.deleted")) == 1)
        deliveries = [b["_delivery"] for b in receiver.bodies()]
        assert len(deliveries) == len(set(deliveries))  # each event its own id
        # The sender counts a delivery once it has read the receiver's
        # answer, a moment after the receiver has the request.
        delivered = lambda: float(server.metric("stet_webhook_deliveries_total", '{outcome="delivered"}'))
        deadline = time.time() + 5
        while delivered() < len(deliveries) and time.time() < deadline:
            time.sleep(0.05)
        assert delivered() == len(deliveries)
    receiver.close()


@pytest.mark.parametrize("backend", backends)
def test_an_event_committed_right_before_sigkill_is_delivered_after_the_restart(backend):
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as d:
        server = Server(*webhook_args(receiver, d, debounce=1500, max_wait=5000), backend=backend)
        server.start()

        async def one_edit():
            c = await Client(server.ws_url, "last-words").connect()
            await c.join("crash-doc")
            await c.edit("crash-doc", 1, [{"insert": "acked, then the node died"}])
            await c.wait_for(lambda: 1 in c.acks)
            server.kill9()  # within the debounce: nothing was sent yet
            return c.acks[1]
        rev = asyncio.run(one_edit())
        assert receiver.bodies("document.changed") == []
        server.restart()
        receiver.wait_for(lambda r: any(b["rev"] == rev for b in r.bodies("document.changed")))
        assert receiver.bodies("document.changed")[-1]["text"] == "acked, then the node died"
        server.stop()
    receiver.close()


def test_a_failing_receiver_is_retried_until_it_answers():
    receiver = Receiver()
    receiver.status = 503
    with tempfile.TemporaryDirectory() as d, Server(*webhook_args(receiver, d, debounce=100, max_wait=500)) as server:
        async def one_edit():
            c = await Client(server.ws_url, "patient").connect()
            await c.join("retry-doc")
            await c.edit("retry-doc", 1, [{"insert": "eventually"}])
            await c.wait_for(lambda: 1 in c.acks)
            await c.close()
        asyncio.run(one_edit())
        deadline = time.time() + 20
        while float(server.metric("stet_webhook_deliveries_total", '{outcome="failed"}') or 0) < 2:
            assert time.time() < deadline, server.log()
            time.sleep(0.1)
        # The depth is counted every 10 s.
        deadline = time.time() + 15
        while float(server.metric("stet_webhook_outbox_depth") or 0) < 1:
            assert time.time() < deadline
            time.sleep(0.1)
        receiver.status = 200
        receiver.wait_for(lambda r: any(b["text"] == "eventually" for b in r.bodies("document.changed")), timeout=30)
        deadline = time.time() + 15
        while float(server.metric("stet_webhook_outbox_depth") or 0) != 0:
            assert time.time() < deadline
            time.sleep(0.1)
    receiver.close()


def test_a_receiver_that_failed_once_does_not_cost_another_its_changes():
    healthy, flaky = Receiver(), Receiver()
    flaky.status = 500
    with tempfile.TemporaryDirectory() as d, Server("--webhook-url", healthy.url, "--webhook-url", flaky.url,
                                                    "--webhook-url", healthy.url,  # named twice: sent once
                                                    "--webhook-secret-file", secret_file(d),
                                                    "--webhook-debounce-ms", "100") as server:
        async def scenario():
            c = await Client(server.ws_url, "two-receivers").connect()
            await c.join("two-doc")
            await c.edit("two-doc", 1, [{"insert": "first"}])
            await c.wait_for(lambda: 1 in c.acks)
            healthy.wait_for(lambda r: any(b["rev"] == c.acks[1] for b in r.bodies("document.changed")))
            # The flaky receiver failed; a change comes before its retry.
            await c.edit("two-doc", 2, [{"retain": 5}, {"insert": " second"}])
            await c.wait_for(lambda: 2 in c.acks)
            flaky.status = 200
            for r in (healthy, flaky):
                r.wait_for(lambda r: any(b["text"] == "first second" for b in r.bodies("document.changed")),
                           timeout=30)
            await c.close()
        asyncio.run(scenario())
        firsts = [b for b in healthy.bodies("document.changed") if b["text"] == "first"]
        assert len(firsts) == 1  # the duplicate URL was sent once
    healthy.close()
    flaky.close()


def self_signed(directory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stet test receiver")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "receiver.pem"), os.path.join(directory, "receiver.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def test_https_receivers_are_verified():
    with tempfile.TemporaryDirectory() as d:
        cert = self_signed(d)
        receiver = Receiver(tls_cert=cert)
        # Trusted through SSL_CERT_FILE (OpenSSL's default trust store moves there).
        with Server(*webhook_args(receiver, d, debounce=100), env={"SSL_CERT_FILE": cert[0]}) as server:
            async def one_edit(doc):
                c = await Client(server.ws_url, "tls").connect()
                await c.join(doc)
                await c.edit(doc, 1, [{"insert": "over TLS"}])
                await c.wait_for(lambda: 1 in c.acks)
                await c.close()
            asyncio.run(one_edit("tls-doc"))
            receiver.wait_for(lambda r: any(b["text"] == "over TLS" for b in r.bodies("document.changed")))
        # Not trusted: nothing is delivered, and it is counted as failed.
        receiver.events.clear()
        with Server(*webhook_args(receiver, d, debounce=100)) as server:
            asyncio.run(one_edit("untrusted-doc"))
            deadline = time.time() + 20
            while float(server.metric("stet_webhook_deliveries_total", '{outcome="failed"}') or 0) < 1:
                assert time.time() < deadline, server.log()
                time.sleep(0.1)
            assert receiver.bodies() == []
        receiver.close()


@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")
def test_in_a_cluster_each_documents_owner_sends_its_events():
    from stet_harness import RedisServer, fresh_database
    from test_cluster import wait_for_cluster
    receiver = Receiver()
    database_gen = fresh_database("stet_hooks")
    database = next(database_gen)
    try:
        with tempfile.TemporaryDirectory() as d, RedisServer() as redis:
            nodes = [Server("--redis", redis.url, "--node-id", name, *webhook_args(receiver, d, debounce=200),
                            backend="postgres", database=database).start() for name in ("hook-a", "hook-b")]
            try:
                wait_for_cluster(nodes, 2)

                async def edits():
                    clients = []
                    for i in range(6):  # spread over both owners, typed on both nodes
                        c = await Client(nodes[i % 2].ws_url, f"w{i}").connect()
                        await c.join(f"owned-{i}")
                        await c.edit(f"owned-{i}", 1, [{"insert": f"doc {i}"}])
                        clients.append(c)
                    for c in clients:
                        await c.wait_for(lambda: 1 in c.acks)
                        await c.close()
                asyncio.run(edits())
                receiver.wait_for(lambda r: {b["docId"] for b in r.bodies("document.changed")}
                                  == {f"owned-{i}" for i in range(6)})
                time.sleep(1)  # a second sender would have sent by now
                changed = [(b["docId"], b["rev"]) for b in receiver.bodies("document.changed")]
                assert len(changed) == len(set(changed)), changed
                sent = [float(n.metric("stet_webhook_deliveries_total", '{outcome="delivered"}')) for n in nodes]
                assert all(s > 0 for s in sent), sent  # each node sent its own documents' events
            finally:
                for n in nodes:
                    n.stop()
    finally:
        next(database_gen, None)
    receiver.close()
