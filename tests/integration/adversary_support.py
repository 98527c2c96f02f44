"""What the adversarial tests share: raw WebSocket helpers, the backends,
and a two-node cluster on real Redis and PostgreSQL."""

import asyncio
import json
import time

import pytest
import websockets

from stet_harness import Server, fresh_database, postgres_available

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




cluster = pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")


@pytest.fixture
def database():
    yield from fresh_database("stet_adv")


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


