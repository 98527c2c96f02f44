#!/usr/bin/python3
"""Cross-node benchmark (not a test): two stet nodes on one Redis and one
PostgreSQL. A writer edits a document at a fixed rate on its owner; one
reader on the owner and one on the other node record edit-to-delivery
latency (same clock). Then a third node joins and the owner is stopped
(SIGTERM) while the writer keeps typing: the longest gap between acks is how
long the document was unavailable while it moved.

    pg_virtualenv -- env STET_TEST_POSTGRES=1 bench/cluster_bench.py [--seconds 5] [--rate 200]
Writes bench/results/cluster.json.
"""

import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import websockets  # noqa: E402

from stet_harness import REPO, Client, RedisServer, Server, psql  # noqa: E402


def pct(v, p):
    v = sorted(v)
    return round(v[min(len(v) - 1, int(p * len(v)))] * 1000, 3) if v else None


async def reader(url, doc, stop, latencies):
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"join": {"docId": doc}}))
        while not stop.is_set():
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except asyncio.TimeoutError:
                continue
            if "applied" in m:
                sent = float(m["applied"]["ops"][-1]["insert"].split("@")[1].rstrip(">"))
                latencies.append(time.time() - sent)


async def latency(nodes, doc, seconds, rate):
    owner = psql(f"SELECT owner_node FROM documents WHERE id = '{doc}'", nodes[0].database)[0][0]
    home = next(n for n in nodes if n.node == owner)
    other = next(n for n in nodes if n is not home)
    stop = asyncio.Event()
    same, cross = [], []
    readers = [asyncio.create_task(reader(home.ws_url, doc, stop, same)),
               asyncio.create_task(reader(other.ws_url, doc, stop, cross))]
    await asyncio.sleep(0.5)
    w = await Client(home.ws_url, "writer").connect()
    await w.join(doc, echo=False)
    seq, start = 0, time.time()
    while time.time() - start < seconds:
        seq += 1
        # Open loop: the send time rides in the text, so queueing shows.
        await w.edit(doc, seq, [{"insert": f"<{seq}@{time.time():.6f}>"}], base_rev=0)
        await asyncio.sleep(max(0.0, start + seq / rate - time.time()))
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*readers)
    await w.close()
    return {"owner_node": owner, "edits": seq, "rate_per_s": rate,
            "same_node_ms_p50": pct(same, 0.5), "same_node_ms_p99": pct(same, 0.99),
            "cross_node_ms_p50": pct(cross, 0.5), "cross_node_ms_p99": pct(cross, 0.99),
            "same_node_deliveries": len(same), "cross_node_deliveries": len(cross)}


async def move(nodes, redis, database, doc):
    owner = psql(f"SELECT owner_node FROM documents WHERE id = '{doc}'", database)[0][0]
    home = next(n for n in nodes if n.node == owner)
    other = next(n for n in nodes if n is not home)
    c = await Client(other.ws_url, "mover", failover=[n.ws_url for n in nodes if n is not other]).connect()
    await c.join(doc, policy="merge")
    ack_times = []
    stop = asyncio.Event()

    async def type_on():
        seq = 0
        while not stop.is_set():
            seq += 1
            await c.edit(doc, seq, [{"insert": "x"}])
            while seq in c.unacked and not stop.is_set():
                await asyncio.sleep(0.001)
            ack_times.append(time.time())

    task = asyncio.create_task(type_on())
    await asyncio.sleep(1.0)
    t0 = time.time()
    home.stop()  # graceful: leaves the membership, the other node takes over
    await asyncio.sleep(3.0)
    stop.set()
    await task
    gaps = [b - a for a, b in zip(ack_times, ack_times[1:]) if b > t0 - 0.1]
    await c.close()
    return {"moved_from": owner, "longest_gap_ms": round(max(gaps) * 1000, 1) if gaps else None,
            "acks_after_move": len([t for t in ack_times if t > t0])}


async def main(args):
    database = f"stet_bench_{int(time.time())}"
    psql(f"CREATE DATABASE {database}")
    try:
        with RedisServer() as redis:
            nodes = []
            for name in ["b1", "b2"]:
                n = Server("--redis", redis.url, "--node-id", name, backend="postgres", database=database)
                n.node = name
                n.start()
                nodes.append(n)
            await asyncio.sleep(2.5)
            probe = await Client(nodes[0].ws_url, "probe").connect()
            await probe.join("bench-doc", policy="merge")
            await probe.close()
            lat = await latency(nodes, "bench-doc", args.seconds, args.rate)
            print(json.dumps(lat))
            mv = await move(nodes, redis, database, "bench-doc")
            print(json.dumps(mv))
            for n in nodes:
                n.stop()
        out = os.path.join(REPO, "bench", "results")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "cluster.json"), "w") as f:
            json.dump({"latency": lat, "move": mv}, f, indent=1)
    finally:
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rate", type=float, default=200)
    asyncio.run(main(ap.parse_args()))
