"""Distribution: several real stet processes sharing PostgreSQL and Redis;
clients on every node edit the same documents; each document has one owner
(the others relay through Redis); everyone converges and no acked edit is
lost or doubled."""

import asyncio
import re
import time
import urllib.request

import pytest

from stet_harness import Client, RedisServer, Server, postgres_available, psql

pytestmark = pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)")


def cluster_size(node):
    with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/metrics") as r:
        m = re.search(r"^stet_cluster_nodes (\S+)", r.read().decode(), re.M)
        return int(float(m.group(1))) if m else 0


def wait_for_cluster(nodes, size, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(cluster_size(n) == size and n.readyz()[0] == 200 for n in nodes):
            return
        time.sleep(0.1)
    raise TimeoutError(f"cluster did not settle on {size} nodes")


def start_nodes(redis, database, names):
    nodes = []
    for name in names:
        n = Server("--redis", redis.url, "--node-id", name, backend="postgres", database=database)
        n.start()
        nodes.append(n)
    return nodes


@pytest.fixture
def database():
    name = f"stet_cluster_{int(time.time() * 1000)}"
    psql(f"CREATE DATABASE {name}")
    yield name
    psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def writers(clients, doc, edits):
    async def one(c):
        for seq in range(1, edits + 1):
            await c.edit(doc, seq, [{"insert": f"<{c.client_id}.{seq}>"}])
            if seq % 5 == 0:
                await c.wait_for(lambda: len(c.acks) >= seq - 3, timeout=60)
        await c.wait_for(lambda: len(c.acks) == edits, timeout=60)
    await asyncio.gather(*(one(c) for c in clients))


def test_three_nodes_clients_everywhere_converge(database):
    async def main():
        with RedisServer() as redis:
            nodes = start_nodes(redis, database, ["n1", "n2", "n3"])
            try:
                wait_for_cluster(nodes, 3)
                docs = ["alpha", "beta", "gamma"]
                clients = []
                for i in range(9):
                    c = await Client(nodes[i % 3].ws_url, f"c{i}").connect()
                    await c.join(docs[i % 3], policy="merge")
                    clients.append(c)
                edits = 25
                await asyncio.gather(*(writers([c for c in clients if c.doc == d], d, edits) for d in docs))
                for d in docs:
                    members = [c for c in clients if c.doc == d]
                    texts = {n.get_document(d)[1]["text"] for n in nodes}
                    assert len(texts) == 1, "nodes disagree"
                    text = texts.pop()
                    for c in members:
                        await c.wait_for(lambda: c.text == text, timeout=30)
                        assert c.errors == [], c.errors
                        for seq in range(1, edits + 1):
                            assert text.count(f"<{c.client_id}.{seq}>") == 1
                # One owner per document: exactly one lease was ever taken.
                for d in docs:
                    epoch = psql(f"SELECT owner_epoch, owner_node FROM documents WHERE id = '{d}'", database)
                    assert epoch[0][0] == "1", epoch
                for c in clients:
                    await c.close()
            finally:
                for n in nodes:
                    n.stop()

    asyncio.run(main())
