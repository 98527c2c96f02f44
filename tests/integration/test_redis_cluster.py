"""stet on a Redis Cluster (--redis-cluster): a document's channels are
sharded pub/sub channels in the slot of stet:doc:<D>, and membership lives
on the slot of stet:nodes. Three stet nodes on a real six-process
cluster (redis_cluster_support.ShardedRedis) with typists on every node and
documents on every master; one test kills a master mid-run and its replica
takes over. As in test_redis_failover.py the typists never rejoin on their
own, and every history is checked against the op log in PostgreSQL
(history_checker): no acked edit lost or doubled, every edit answered, one
lease at a time, every copy converged. Pauses are printed, never asserted:
the machine is shared."""

import asyncio
import re
import time
import urllib.request

import pytest

import redis_cluster_support
from moves_support import join, keep_typing
from redis_cluster_support import ShardedRedis
from redis_support import RedisCluster, check_all, pause_around, wait_until
from stet_harness import Server, fresh_database, postgres_available

pytestmark = [
    pytest.mark.skipif(not postgres_available(), reason="needs PostgreSQL (scripts/test.sh provides it)"),
    pytest.mark.skipif(not redis_cluster_support.available(), reason="needs redis-server 7 and redis-cli"),
]

NAMES = ("n1", "n2", "n3")
DOCS_PER_MASTER = 4  # 12 documents, two typists each on different nodes
RATE = 4.0           # edits a second per typist: 24 typists on a shared two-core machine
PUBLISHES = "stet_redis_shard_publishes_total"
RECONNECTS = "stet_redis_shard_reconnects_total"


@pytest.fixture
def database():
    yield from fresh_database("stet_redis_cluster")


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "cluster.key"
    path.write_text(Server.CLUSTER_SECRET)
    return str(path)


def on_cluster(database, rc, secret_file, login=None):
    """A redis_support.RedisCluster whose nodes reach `rc` through its seeds
    (and log in with `login`: a --redis URL, of which only the user and
    password count on a Redis Cluster)."""
    def args(name):
        out = ["--redis-cluster", rc.seeds(), "--cluster-secret-file", secret_file]
        return out + (["--redis", login] if login else [])
    return RedisCluster(database, args)


def settled(cluster):
    """Every live node ready and counting every live node. Not whole(): which
    of the single-Redis metrics a node on a Redis Cluster keeps is its own
    business; /readyz is the contract."""
    try:
        size = len(cluster.live())
        return all(int(n.metric("stet_cluster_nodes") or 0) == size and cluster.ready(n) for n in cluster.live())
    except OSError:
        return False


def pick_documents(rc, prefix, per_master=DOCS_PER_MASTER, candidates=400):
    """{master port: [per_master document ids it serves]}, ids found by
    asking the cluster for each candidate's slot."""
    picked = {port: [] for port in rc.masters()}
    for i in range(candidates):
        doc = f"{prefix}-{i}"
        port = rc.master_of(doc)
        if len(picked[port]) < per_master:
            picked[port].append(doc)
        if all(len(d) == per_master for d in picked.values()):
            return picked
    raise AssertionError(f"{candidates} candidates do not give {per_master} documents per master: {picked}")


def shard_samples(node, name):
    """{shard label: value} of every sample of `name` on the node's /metrics
    (labels in any order, others ignored)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{node.probe_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for labels, value in re.findall(rf"^{re.escape(name)}\{{([^}}]*)\}} (\S+)$", text, re.M):
        shard = re.search(r'shard="([^"]*)"', labels)
        if shard:
            out[shard.group(1)] = out.get(shard.group(1), 0.0) + float(value)
    return out


def shard_totals(cluster, name):
    """{node name: {shard: value}} over the live nodes."""
    return {n: shard_samples(node, name) for n, node in cluster.nodes.items() if node in cluster.live()}


def counted_for(totals, port):
    """The largest value any node reports for the shard at 127.0.0.1:port."""
    return max((v for samples in totals.values() for shard, v in samples.items() if shard.endswith(f":{port}")),
               default=0.0)


async def start(cluster, docs, names=NAMES, rate=RATE):
    """Starts `names`, waits until settled, and puts two typists on every
    document, on two different nodes (so at least one of them is relayed
    to the document's owner). Returns (typists, stop, trouble, typing tasks)."""
    for name in names:
        await asyncio.to_thread(cluster.start, name)
    await asyncio.to_thread(cluster.wait_settled, 30)
    where = [(names[(i + k) % len(names)], doc) for i, doc in enumerate(docs) for k in (0, 1)]
    joined = await asyncio.gather(*(join(cluster.nodes[name].ws_url, f"{name}-{doc}", doc, rate=rate)
                                    for name, doc in where))
    typists = [t for t, _ in joined]
    late = {t.client_id: t.problems for t, took in joined if took is None}
    if late:
        for t in typists:
            await t.close()
        raise AssertionError(f"joins not answered: {late}\n{cluster.move_log(tail=20)}")
    stop, trouble = asyncio.Event(), []
    return typists, stop, trouble, [asyncio.create_task(keep_typing(t, stop, trouble)) for t in typists]


def acks_since(typists, t0):
    """{client: acks received after t0}: typing went on."""
    return {t.client_id: sum(1 for e in t.log.events if e[0] == "ack" and e[-1] > t0) for t in typists}


def run(database, secret_file, scenario, password=None):
    """Runs `scenario(cluster, rc)` on a fresh ShardedRedis (with
    `password`, given to the nodes in --redis), everything stopped on the
    way out."""
    with ShardedRedis(password=password) as rc:
        login = f"redis://:{password}@127.0.0.1:{rc.ports[0]}" if password else None
        cluster = on_cluster(database, rc, secret_file, login)
        try:
            asyncio.run(scenario(cluster, rc))
        finally:
            cluster.close()


def test_three_nodes_on_a_redis_cluster_converge(database, secret_file):
    """Typists on all three nodes edit twelve documents, four on each master,
    for five seconds: nothing lost or doubled, every text the same on every
    node and in every typist's copy, and every master served SPUBLISHes
    (Redis's own count, and the per-shard metric of at least one node)."""
    async def scenario(cluster, rc):
        by_master = pick_documents(rc, "sharded")
        docs = [d for ds in by_master.values() for d in ds]
        typists, stop, trouble, tasks = await start(cluster, docs)
        await asyncio.sleep(5.0)
        summary = await check_all(cluster, docs, typists, stop, trouble, tasks)
        spublish = rc.spublish_counts()
        publishes = shard_totals(cluster, PUBLISHES)
        print(f"twelve documents over masters {sorted(by_master)}: SPUBLISH calls per master {spublish}; "
              f"{PUBLISHES} per node {publishes}; longest stall per typist (s) "
              f"{ {k: round(v['longest_stall'], 1) for k, v in summary['clients'].items()} }")
        idle = [client for client, n in acks_since(typists, 0).items() if n == 0]
        assert idle == [], f"typists that never had an edit acked: {idle}"
        assert all(spublish[p] > 0 for p in by_master), f"a master served no SPUBLISH: {spublish}"
        unseen = [p for p in by_master if counted_for(publishes, p) <= 0]
        assert unseen == [], f"no node counts publishes to the shards at {unseen}: {publishes}"

    run(database, secret_file, scenario)


@pytest.mark.parametrize("victim", ["membership_master", "documents_master"])
def test_a_redis_master_killed_mid_run(database, secret_file, victim):
    """The same load; after two seconds a master serving four of the edited
    documents is SIGKILLed and its replica takes over ("membership_master":
    the one serving the membership key stet:nodes too, so heartbeats go with it;
    "documents_master": one that serves documents only). Nothing acked is
    lost or doubled, every edit is answered, nobody is told `fenced`, typing
    goes on on the documents of the dead master, and their publishes go to
    the promoted replica."""
    async def scenario(cluster, rc):
        by_master = pick_documents(rc, f"failover-{victim}")
        docs = [d for ds in by_master.values() for d in ds]
        membership = rc.master_of_key("stet:nodes")
        port = membership if victim == "membership_master" else min(set(by_master) - {membership})
        hit = by_master[port]
        typists, stop, trouble, tasks = await start(cluster, docs)
        await asyncio.sleep(2.0)
        reconnects = shard_totals(cluster, RECONNECTS)
        t_kill = time.monotonic()
        promoted = await asyncio.to_thread(rc.kill_master, port)
        t_promoted = time.monotonic()
        back = await wait_until(lambda: settled(cluster), 30)
        assert back is not None, f"stet not settled after the failover: {cluster.views()}\n{cluster.move_log(tail=20)}"
        t_back = time.monotonic()
        await asyncio.sleep(3.0)
        after = acks_since([t for t in typists if t.doc in hit], t_back)
        p50, p99, n = pause_around([t for t in typists if t.doc in hit], t_kill - 0.5, t_back)
        q50, q99, m = pause_around([t for t in typists if t.doc not in hit], t_kill - 0.5, t_back)
        await check_all(cluster, docs, typists, stop, trouble, tasks)
        spublish = rc.spublish_counts()
        publishes, reconnected = shard_totals(cluster, PUBLISHES), shard_totals(cluster, RECONNECTS)
        print(f"killed master {port} ({victim}; stet:nodes on {membership}): replica {promoted} promoted "
              f"{t_promoted - t_kill:.1f} s after the kill, stet settled {t_back - t_kill:.1f} s after it; longest ack "
              f"latency per typist around it on the dead master's documents p50 {p50 * 1000:.0f} ms, p99 "
              f"{p99 * 1000:.0f} ms ({n} typists), on the others p50 {q50 * 1000:.0f} ms, p99 {q99 * 1000:.0f} ms "
              f"({m}); SPUBLISH calls per master {spublish}; {PUBLISHES} {publishes}; {RECONNECTS} before "
              f"{reconnects}, after {reconnected}; 'membership changed' logged "
              f"{ {name: cluster.count(name, 'membership changed') for name in NAMES} }")
        assert all(after.values()), f"typing stopped on the dead master's documents after the failover: {after}"
        assert spublish.get(promoted, 0) > 0, f"the promoted replica {promoted} served no SPUBLISH: {spublish}"
        assert counted_for(publishes, promoted) > 0, f"no node counts publishes to {promoted}: {publishes}"

    run(database, secret_file, scenario)


def test_a_slot_moved_between_masters_mid_run(database, secret_file):
    """The slot of a document being edited moves from one master to another
    while two typists edit it (the migration Redis Cluster's resharding
    does, for a slot holding no keys): while the slot is migrating its
    publications are answered ASK, after it moved MOVED, and the old master
    drops the nodes' subscriptions to its channels (sunsubscribe). Nothing
    acked is lost, typing goes on, and the new master serves the slot's
    publications."""
    async def scenario(cluster, rc):
        by_master = pick_documents(rc, "reshard", per_master=1)
        docs = [d for ds in by_master.values() for d in ds]
        source = rc.master_of(docs[0])
        target = next(p for p in rc.masters() if p != source)
        slot = int(rc.cli(source, "CLUSTER", "KEYSLOT", f"stet:doc:{docs[0]}")[0])
        source_id = rc.cli(source, "CLUSTER", "MYID")[0]
        target_id = rc.cli(target, "CLUSTER", "MYID")[0]
        typists, stop, trouble, tasks = await start(cluster, docs)
        await asyncio.sleep(2.0)
        before = rc.spublish_counts().get(target, 0)
        t_move = time.monotonic()
        assert rc.cli(target, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id) == ["OK"]
        assert rc.cli(source, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id) == ["OK"]
        await asyncio.sleep(1.5)  # publications now answered ASK
        for port in rc.masters():
            rc.cli(port, "CLUSTER", "SETSLOT", str(slot), "NODE", target_id)
        await asyncio.sleep(4.0)
        moved = [t for t in typists if t.doc == docs[0]]
        after = acks_since(moved, t_move + 2.0)
        p50, p99, n = pause_around(moved, t_move - 0.5, time.monotonic())
        await check_all(cluster, docs, typists, stop, trouble, tasks)
        served = rc.spublish_counts().get(target, 0) - before
        print(f"slot {slot} of {docs[0]} moved {source} -> {target}: longest ack latency per typist around it "
              f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms ({n}); SPUBLISH on the new master since {served}")
        assert rc.master_of(docs[0]) == target
        assert all(after.values()), f"typing stopped on the moved document: {after}"
        assert served > 0

    run(database, secret_file, scenario)


def test_a_redis_cluster_with_a_password(database, secret_file):
    """Every Redis node has requirepass: two stet nodes given the login in
    --redis converge on a document per master; a third given a wrong one is
    not ready and never logs the password it was given."""
    password = "cluster-s3cret-pass"

    async def scenario(cluster, rc):
        docs = [d for ds in pick_documents(rc, "login", per_master=1).values() for d in ds]
        typists, stop, trouble, tasks = await start(cluster, docs, names=("n1", "n2"))
        await asyncio.sleep(2.0)
        await check_all(cluster, docs, typists, stop, trouble, tasks)
        wrong = Server("--redis-cluster", rc.seeds(), "--cluster-secret-file", secret_file,
                       "--redis", f"redis://:wrong-password@127.0.0.1:{rc.ports[0]}", "--node-id", "n3",
                       backend="postgres", database=cluster.database)
        with wrong:
            await asyncio.sleep(3.0)
            status, body = wrong.readyz()
            assert status == 503, (status, body)
            assert "wrong-password" not in wrong.log() and "wrong-password" not in str(body)
        assert cluster.nodes["n1"].metric("stet_cluster_nodes") == 2

    run(database, secret_file, scenario, password=password)
