"""Tracing: an edit whose client sends a sampled W3C traceparent becomes a
trace of spans (receive on the client's node; order, commit and fan-out on
the owner; fan-out on every other node that relays it), exported as OTLP
over HTTP/JSON to a collector, here a small receiver in the test. Edits
without a context, or with a malformed or unsampled one, are not traced
and are applied as ever; a collector that is down costs nothing else."""

import asyncio
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from test_cluster import wait_for_cluster
from stet_harness import Client, RedisServer, Server, fresh_database, postgres_available, psql


class OtlpReceiver:
    """Collects the spans POSTed to /v1/traces (OTLP JSON)."""

    def __init__(self, status=200):
        self.spans, self.requests, self.status = [], [], status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, self.headers.get("Content-Type")))
                if self.path == "/v1/traces" and receiver.status == 200:
                    for rs in json.loads(body)["resourceSpans"]:
                        attrs = {a["key"]: a["value"]["stringValue"] for a in rs["resource"]["attributes"]}
                        for ss in rs["scopeSpans"]:
                            for s in ss["spans"]:
                                receiver.spans.append({**s, "node": attrs["service.instance.id"],
                                                       "service": attrs["service.name"]})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def trace(self, trace_id):
        return [s for s in self.spans if s["traceId"] == trace_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def new_traceparent(sampled=True):
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{'01' if sampled else '00'}"


async def traced_edit(client, doc, seq, text, traceparent):
    await client.ws.send(json.dumps({"edit": {"docId": doc, "baseRev": client.rev, "clientSeq": seq,
                                              "ops": ([{"retain": len(client.text)}] if client.text else [])
                                              + [{"insert": text}],
                                              "traceparent": traceparent}}))
    await client.wait_for(lambda: seq in client.acks)


def wait_for_spans(receiver, trace_id, predicate, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        spans = receiver.trace(trace_id)
        if predicate(spans):
            return spans
        time.sleep(0.1)
    raise TimeoutError(f"spans of {trace_id}: {receiver.trace(trace_id)}")


def test_one_node_traces_sampled_edits_only():
    receiver = OtlpReceiver()
    try:
        with Server("--otlp-endpoint", receiver.url) as server:
            async def scenario():
                c = await Client(server.ws_url, "tracer").connect()
                await c.join("traced")
                sampled = new_traceparent()
                await traced_edit(c, "traced", 1, "a", sampled)
                for seq, tp in ((2, new_traceparent(sampled=False)), (3, "00-garbage"), (4, "x" * 5000), (5, "")):
                    await traced_edit(c, "traced", seq, "b", tp)
                await c.close()
                return sampled, c.text
            sampled, text = asyncio.run(scenario())
            assert text == "abbbb"
            trace_id = sampled.split("-")[1]
            spans = wait_for_spans(receiver, trace_id, lambda s: len(s) >= 4)
            by_name = {s["name"]: s for s in spans}
            assert set(by_name) == {"stet.receive", "stet.order", "stet.commit", "stet.fanout"}, spans
            receive = by_name["stet.receive"]
            assert receive["parentSpanId"] == sampled.split("-")[2]
            for name in ("stet.order", "stet.commit", "stet.fanout"):
                assert by_name[name]["parentSpanId"] == receive["spanId"]
                assert int(by_name[name]["startTimeUnixNano"]) <= int(by_name[name]["endTimeUnixNano"])
            assert int(by_name["stet.commit"]["endTimeUnixNano"]) <= int(by_name["stet.fanout"]["startTimeUnixNano"])
            assert len({s["node"] for s in spans}) == 1
            assert all(s["attributes"][0] == {"key": "stet.doc", "value": {"stringValue": "traced"}} for s in spans)
            assert all(s["service"] == "stet" for s in spans)
            time.sleep(1.5)  # one more export period: nothing else was traced
            assert len(receiver.spans) == 4, receiver.spans
            assert all(path == "/v1/traces" and ctype == "application/json" for path, ctype in receiver.requests)
    finally:
        receiver.close()


def test_a_collector_that_fails_costs_only_spans():
    receiver = OtlpReceiver(status=503)
    try:
        with Server("--otlp-endpoint", receiver.url + "/") as server:
            async def scenario():
                c = await Client(server.ws_url, "tracer").connect()
                await c.join("untraced")
                for seq in range(1, 21):
                    await traced_edit(c, "untraced", seq, "x", new_traceparent())
                await c.close()
                return c.text
            assert asyncio.run(scenario()) == "x" * 20
            deadline = time.time() + 10
            while not receiver.requests and time.time() < deadline:
                time.sleep(0.1)
            assert receiver.requests and receiver.requests[0][0] == "/v1/traces"
            deadline = time.time() + 10
            while "trace export failed" not in server.log() and time.time() < deadline:
                time.sleep(0.1)
            assert "trace export failed" in server.log()
    finally:
        receiver.close()


def test_bad_otlp_endpoint_is_refused_at_start():
    server = Server("--otlp-endpoint", "ftp://collector:4318")
    with pytest.raises(RuntimeError, match="otlp-endpoint"):
        server.start()


@pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")
def test_a_trace_of_one_edit_has_spans_from_both_nodes():
    receiver = OtlpReceiver()
    for database in fresh_database("stet_tracing"):
        with RedisServer() as redis:
            nodes = [Server("--redis", redis.url, "--node-id", name, "--otlp-endpoint", receiver.url,
                            backend="postgres", database=database).start() for name in ("t1", "t2")]
            try:
                wait_for_cluster(nodes, 2)
                async def scenario():
                    docs = [f"tr-{i}" for i in range(8)]
                    probes = []
                    for d in docs:
                        p = await Client(nodes[0].ws_url, "probe-" + d).connect()
                        await p.join(d)
                        probes.append(p)
                    owners = dict(psql("SELECT id, owner_node FROM documents WHERE id LIKE 'tr-%'", database))
                    doc = next(d for d in docs if owners[d] == "t2")
                    writer = next(p for p in probes if p.doc == doc)
                    tp = new_traceparent()
                    await traced_edit(writer, doc, 1, "hello", tp)
                    for p in probes:
                        await p.close()
                    return tp, doc
                tp, doc = asyncio.run(scenario())
                trace_id = tp.split("-")[1]
                spans = wait_for_spans(receiver, trace_id, lambda s: len(s) >= 5)
                where = sorted((s["node"], s["name"]) for s in spans)
                assert where == [("t1", "stet.fanout"), ("t1", "stet.receive"),
                                 ("t2", "stet.commit"), ("t2", "stet.fanout"), ("t2", "stet.order")], where
                by = {(s["node"], s["name"]): s for s in spans}
                receive = by[("t1", "stet.receive")]
                for name in ("stet.order", "stet.commit", "stet.fanout"):
                    assert by[("t2", name)]["parentSpanId"] == receive["spanId"]
                # The relaying node's fan-out hangs under the owner's.
                assert by[("t1", "stet.fanout")]["parentSpanId"] == by[("t2", "stet.fanout")]["spanId"]
                assert all(s["attributes"][0] == {"key": "stet.doc", "value": {"stringValue": doc}} for s in spans)
            finally:
                for n in nodes:
                    n.stop()
    receiver.close()


def test_a_client_that_samples_everything_is_held_to_the_node_budget():
    receiver = OtlpReceiver()
    try:
        with Server("--otlp-endpoint", receiver.url) as server:
            async def scenario():
                c = await Client(server.ws_url, "flood").connect()
                await c.join("flood")
                for seq in range(1, 401):
                    await c.ws.send(json.dumps({"edit": {"docId": "flood", "baseRev": 0, "clientSeq": seq,
                                                         "ops": [{"insert": "x"}], "traceparent": new_traceparent()}}))
                await c.wait_for(lambda: len(c.acks) == 400, timeout=60)
                await c.close()
            t0 = time.time()
            asyncio.run(scenario())
            seconds = time.time() - t0
            deadline = time.time() + 15
            while time.time() < deadline and server.metric("stet_trace_spans_total", '{outcome="over_budget"}') in (None, 0):
                time.sleep(0.2)
            refused = server.metric("stet_trace_spans_total", '{outcome="over_budget"}')
            # Every edit applied; at most 100 a second traced, the rest counted.
            traces = {s["traceId"] for s in receiver.spans}
            assert refused and refused > 0, refused
            assert len(traces) <= 100 * (int(seconds) + 2), (len(traces), seconds)
    finally:
        receiver.close()
