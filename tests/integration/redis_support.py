"""What test_redis_failover.py shares: a Redis master with a replica and
three Sentinels that fail it over; a moves_support.Cluster whose nodes each
reach Redis their own way (through the Sentinels, or through a fault_proxy
of their own) or run under libfaketime; the documents each node owns; and
the waits and readings a Redis fault test reports (how long until the
cluster is whole, who owned each document when, the pause typists saw,
and what a failure report quotes about the edits it names)."""

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time

from moves_support import LOG_ARGS, Cluster, assert_clean, finish, pause_after, percentile
from stet_harness import RedisServer, Server, psql
from typist import Typist

SENTINEL = "/usr/bin/redis-sentinel"
MASTER_NAME = "stetmaster"
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def sentinel_available():
    return os.path.exists(SENTINEL)


def faketime_available():
    return os.path.exists(FAKETIME_LIB)


def redis_cli(port, *args, timeout=5):
    """The raw reply lines of one command to 127.0.0.1:port ([] when it
    does not answer)."""
    try:
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--raw", *map(str, args)],
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return []
    return out.stdout.splitlines() if out.returncode == 0 else []


class _Redis(RedisServer):
    """A RedisServer writing nothing to disk outside `dir`, with extra
    arguments (--replicaof for a replica)."""

    def __init__(self, dir, *extra):
        super().__init__()
        self.dir, self.extra = dir, list(extra)

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--loglevel", "warning", "--dir", self.dir, *self.extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class SentinelGroup:
    """A master, one replica (--replicaof) and `count` redis-sentinel
    processes monitoring them as MASTER_NAME, with a quorum of 2 and a
    down-after of 1 s, so that a killed master is replaced in a few
    seconds. Each sentinel has its own config file: sentinel rewrites it.
    A context manager; every process is killed on the way out."""

    def __init__(self, count=3):
        self.dir = tempfile.mkdtemp(prefix="stet-sentinel-")
        self.master = _Redis(self.dir)
        self.replica = _Redis(self.dir, "--replicaof", "127.0.0.1", str(self.master.port))
        self.ports = [RedisServer().port for _ in range(count)]
        self.sentinels = []

    @property
    def addresses(self):
        """What --redis-sentinel takes."""
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self):
        self.master.start()
        self._wait(lambda: redis_cli(self.master.port, "PING") == ["PONG"], "master answers")
        self.replica.start()
        self._wait(lambda: "master_link_status:up" in "\n".join(redis_cli(self.replica.port, "INFO", "replication")),
                   "replica in sync")
        for i, port in enumerate(self.ports):
            conf = os.path.join(self.dir, f"sentinel-{i}.conf")
            with open(conf, "w") as f:
                f.write(f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {self.dir}\n"
                        f"logfile {os.path.join(self.dir, f'sentinel-{i}.log')}\n"
                        "sentinel resolve-hostnames no\n"
                        f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2\n"
                        f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                        f"sentinel failover-timeout {MASTER_NAME} 5000\n"
                        f"sentinel parallel-syncs {MASTER_NAME} 1\n")
            self.sentinels.append(subprocess.Popen([SENTINEL, conf], stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL))
        # Each sentinel must know the replica and the other sentinels (they
        # meet through the master's hello channel) before a failover can be
        # authorised.
        want = {"num-slaves": "1", "num-other-sentinels": str(len(self.ports) - 1)}
        self._wait(lambda: all({k: self.view(p).get(k) for k in want} == want for p in self.ports),
                   "sentinels agree on the replica and on each other", timeout=30)
        return self

    def view(self, port):
        """SENTINEL MASTER as a dict, from the sentinel on `port`."""
        lines = redis_cli(port, "SENTINEL", "MASTER", MASTER_NAME)
        return dict(zip(lines[::2], lines[1::2]))

    def master_port(self):
        """The master's port as the first sentinel that answers names it."""
        for port in self.ports:
            reply = redis_cli(port, "SENTINEL", "get-master-addr-by-name", MASTER_NAME)
            if len(reply) == 2:
                return int(reply[1])
        return None

    def log(self):
        out = []
        for i in range(len(self.ports)):
            path = os.path.join(self.dir, f"sentinel-{i}.log")
            if os.path.exists(path):
                with open(path) as f:
                    out.append(f"--- sentinel {i}\n" + f.read()[-2000:])
        return "\n".join(out)

    def _wait(self, done, what, timeout=15):
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not after {timeout} s\n{self.log()}")
            time.sleep(0.1)

    def close(self):
        for p in [*self.sentinels, self.master.proc, self.replica.proc]:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc):
        self.close()


class RedisCluster(Cluster):
    """A moves_support.Cluster whose node `name` is started with
    `redis_args(name)` (how it reaches Redis) and `env.get(name)`."""

    def __init__(self, database, redis_args, env=None):
        super().__init__(None, database)
        self.redis_args, self.env = redis_args, env or {}

    def start(self, name):
        node = Server(*self.redis_args(name), "--node-id", name, "--metrics-listen", "127.0.0.1:0", *LOG_ARGS,
                      backend="postgres", database=self.database, env=self.env.get(name))
        self.nodes[name] = node
        return node.start()

    def connected(self, node):
        try:
            return node.metric("stet_redis_connected")
        except OSError:
            return None

    def whole(self):
        """Every live node connected to Redis, counting every live node, ready."""
        size = len(self.live())
        try:
            return all(self.connected(n) == 1 and int(n.metric("stet_cluster_nodes") or 0) == size and self.ready(n)
                       for n in self.live())
        except OSError:
            return False

    def wait_whole(self, timeout=30):
        """Seconds until whole() (TimeoutError with every node's view after `timeout`)."""
        t0 = time.monotonic()
        while not self.whole():
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"cluster not whole after {timeout} s: {self.views()}\n{self.move_log(tail=20)}")
            time.sleep(0.1)
        return time.monotonic() - t0

    def owners(self, docs):
        """{doc: (owner node, owner epoch)} from PostgreSQL."""
        names = ",".join(f"'{d}'" for d in docs)
        rows = psql(f"SELECT id, owner_node, owner_epoch FROM documents WHERE id IN ({names})", self.database)
        return {d: (o, int(e)) for d, o, e in rows}

    def log_has(self, name, text):
        return text in self.nodes[name].log()


async def one_doc_per_node(cluster, prefix, names, candidates=24):
    """{node name: a document whose lease that node took}, found by opening
    candidate documents through the first node (a join takes the lease on
    the node the ring names)."""
    first = cluster.nodes[names[0]]
    docs = [f"{prefix}-{i}" for i in range(candidates)]
    probes = await asyncio.gather(*(Typist(first.ws_url, f"probe{i}", d).connect() for i, d in enumerate(docs)))
    for p in probes:
        await p.close()
    owners = await asyncio.to_thread(cluster.owners, docs)
    out = {}
    for d in docs:
        out.setdefault(owners[d][0], d)
    missing = set(names) - set(out)
    assert not missing, f"no document of {candidates} is owned by {missing}: {owners}"
    return {n: out[n] for n in names}


async def wait_until(predicate, timeout, step=0.1):
    """Seconds until the blocking `predicate()` holds (run in a thread), or
    None after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if await asyncio.to_thread(predicate):
            return time.monotonic() - t0
        await asyncio.sleep(step)
    return None


def pause_around(typists, t0, t1):
    """p50 and p99 over typists of each one's longest ack latency for the
    edits it issued between `t0` and `t1` (time.monotonic()), and how many
    typists issued any."""
    longest = [p for p in (pause_after(t.log, t0, t1 - t0) for t in typists) if p is not None]
    return percentile(longest, 0.5), percentile(longest, 0.99), len(longest)


class OwnerWatch:
    """Samples who owns `docs` every `step` seconds while in its `async
    with` block; `changes` is [(seconds since the block began, doc, owner,
    epoch)], one row per change (the first row per doc is where it began)."""

    def __init__(self, cluster, docs, step=0.2):
        self.cluster, self.docs, self.step = cluster, list(docs), step
        self.changes, self._task, self.t0 = [], None, None

    async def __aenter__(self):
        self.t0 = time.monotonic()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc):
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self):
        last = {}
        while True:
            now = await asyncio.to_thread(self.cluster.owners, self.docs)
            for doc, held in sorted(now.items()):
                if last.get(doc) != held:
                    self.changes.append((round(time.monotonic() - self.t0, 1), doc, *held))
                    last[doc] = held
            await asyncio.sleep(self.step)

    def first_away(self, doc, node, after=0.0):
        """Seconds (since the block began) at which `doc` was first seen
        owned by another node than `node`, at or after `after`; None if never."""
        return next((t for t, d, owner, _ in self.changes if d == doc and owner != node and t >= after), None)

    def moves(self):
        """{doc: lease changes seen}."""
        out = {d: -1 for d in self.docs}
        for _, d, _, _ in self.changes:
            out[d] += 1
        return out


def explain(cluster, typists, violations, limit=4):
    """What a failure report needs beyond the checker's lines: for the first
    few edits named in a violation, what its typist sent and heard about it,
    the op log rows of its document and every node's log about it."""
    out, docs = [], set()
    for t in typists:
        named = sorted({seq for seq in range(1, t.seq + 1)
                        if any(f"<{t.client_id}.{seq}>" in v for v in violations)})[:limit]
        for seq in named:
            docs.add(t.doc)
            heard = [e for e in t.log.events if e[0] in ("send", "ack", "error") and e[2] == seq]
            out.append(f"{t.client_id} ({t.log.author_id}) edit {seq} on {t.doc}: {heard}")
            # The next edit too: one committed ahead of its predecessor makes the predecessor a "duplicate".
            edits = (f'"{t.log.author_id}/{seq}"', f'"{t.log.author_id}/{seq + 1}"')
            for name, node in cluster.nodes.items():
                out += [f"  {name}: {line}" for line in node.log().splitlines() if any(e in line for e in edits)]
            rows = psql(f"SELECT rev, epoch, client_seq FROM document_ops WHERE doc_id = '{t.doc}' AND client_id = "
                        f"'{t.log.author_id}' AND client_seq BETWEEN {seq - 3} AND {seq + 3} ORDER BY rev",
                        cluster.database)
            out.append(f"  op log rows of {t.log.author_id} seqs {seq - 3}..{seq + 3} (rev, epoch, seq): {rows}")
    docs |= {d for d in {t.doc for t in typists} if any(v.startswith(f"{d}: final texts differ") for v in violations)}
    for doc in sorted(docs):
        # A node whose GET disagrees: is it behind for a moment, or for good?
        for attempt in (1, 2):
            seen = {name: node.get_document(doc) for name, node in cluster.nodes.items()}
            out.append(f"{doc} GET per node (attempt {attempt}): " + ", ".join(
                f"{name} {node.ws_url}: {status} rev {body.get('rev')} {len(body.get('text', ''))} chars"
                for (name, node), (status, body) in zip(cluster.nodes.items(), seen.values())))
            if attempt == 1:
                time.sleep(3)
        out.append(f"{doc} owner now: {cluster.owners([doc])}")
        rows = psql(f"SELECT rev, epoch, client_id, client_seq FROM document_ops WHERE doc_id = '{doc}' "
                    f"ORDER BY rev", cluster.database)
        out.append(f"{doc} op log: {len(rows)} rows, revs {rows[0][0] if rows else '-'}..{rows[-1][0] if rows else '-'}")
        out.append(cluster.doc_log(doc))
    return "\n".join(out)


async def check_all(cluster, docs, typists, stop, trouble, tasks):
    """Stops typing, waits for every answer, checks the histories of `docs`
    (failing with the servers' view of the edits named); closes the typists
    whatever happens and returns the checker's summary."""
    stop.set()
    await asyncio.gather(*tasks)
    try:
        violations, summary, _ = await finish(cluster, typists, docs)
        try:
            assert_clean(cluster, typists, violations, trouble)
        except AssertionError:
            print(explain(cluster, typists, violations))
            raise
    finally:
        for t in typists:
            await t.close()
    return summary
