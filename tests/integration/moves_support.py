"""What test_moves.py shares: a cluster of stet nodes on one Redis and one
PostgreSQL database whose nodes come and go while typists type; typing that
records its trouble instead of dying with it; the histories checked against
the op log; the pause each kind of move costs a typist; and the server log
lines that explain a failure."""

import asyncio
import json
import math
import os
import time

from history_checker import check, describe
from stet_harness import Server, psql
from typist import Typist

# More typists, documents and cycles when asked for a soak.
SOAK = os.environ.get("STET_SOAK") == "1"
# Generous: a node shares two cores with builds. The server promises ~4 s
# (membership expiry 3 s + 1 s) for a relayed join or edit.
JOIN_BOUND = 15.0
# STET_LOG_LEVEL=debug: nodes log every edit's path, for a failure to be followed.
LOG_ARGS = ["--log-level", os.environ["STET_LOG_LEVEL"]] if os.environ.get("STET_LOG_LEVEL") else []
# Log messages that tell how documents moved and why.
MOVE_MESSAGES = {"re-attaching sessions", "document moved", "membership changed", "lease lost; closing document",
                 "shutting down", "revision gap on the bus; resyncing", "document actor failed"}


class Cluster:
    """Nodes named by the caller, started and ended on demand; the blocking
    methods are meant for asyncio.to_thread so typists keep typing."""

    def __init__(self, redis, database):
        self.redis, self.database = redis, database
        self.nodes = {}     # name -> Server, in start order
        self.gone = set()   # names stopped or killed

    def start(self, name):
        # An operations port, as in production: /readyz there says why a node is not ready.
        node = Server("--redis", self.redis.url, "--node-id", name, "--metrics-listen", "127.0.0.1:0", *LOG_ARGS,
                      backend="postgres", database=self.database)
        self.nodes[name] = node
        return node.start()

    def stop(self, name):
        self.gone.add(name)
        self.nodes[name].stop()

    def kill(self, name):
        self.gone.add(name)
        self.nodes[name].kill9()

    def live(self):
        return [n for name, n in self.nodes.items() if name not in self.gone]

    def urls(self, but=None):
        return [n.ws_url for n in self.live() if n is not but]

    @staticmethod
    def ready(node):
        try:
            return node.readyz()[0] == 200
        except OSError:
            return False

    def wait_ready(self, node, timeout=20):
        deadline = time.monotonic() + timeout
        while not self.ready(node):
            if time.monotonic() > deadline:
                raise TimeoutError(f"node not ready after {timeout} s: {node.readyz()}")
            time.sleep(0.02)

    def wait_settled(self, timeout=30):
        """Until every live node counts exactly the live nodes and is ready."""
        size, deadline = len(self.live()), time.monotonic() + timeout
        while True:
            try:
                if all(int(n.metric("stet_cluster_nodes") or 0) == size and self.ready(n) for n in self.live()):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster did not settle on {size} nodes: {self.views()}\n{self.move_log(tail=15)}")
            time.sleep(0.1)

    def views(self):
        """{name: (nodes it counts, /readyz status and body)} of the live nodes."""
        out = {}
        for name, node in self.nodes.items():
            if name in self.gone:
                continue
            try:
                out[name] = (node.metric("stet_cluster_nodes"), node.readyz())
            except OSError as e:
                out[name] = repr(e)
        return out

    def close(self):
        for node in self.nodes.values():
            if node.proc and node.proc.poll() is None:
                node.stop()
            if node._tmp:
                node._tmp.cleanup()

    def move_log(self, docs=None, tail=60):
        """The lines of every node's log about moves, warnings and errors
        (about `docs`, when given): what a failure report quotes."""
        out = []
        for name, node in self.nodes.items():
            try:
                text = node.log()
            except OSError:
                continue
            picked = []
            for line in text.splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if docs is not None and entry.get("doc") not in (None, *docs):
                    continue
                if entry.get("msg") in MOVE_MESSAGES or entry.get("level") in ("warn", "error"):
                    picked.append(line)
            out.append(f"--- {name}{' (gone)' if name in self.gone else ''}: {len(picked)} lines, last {tail}")
            out.extend(picked[-tail:])
        return "\n".join(out)

    def doc_log(self, doc, tail=40):
        """Every node's log about `doc`, one stuck document followed: the
        lines that are not an edit's path (those at debug level too, with
        STET_LOG_LEVEL=debug), and the first and last edit line."""
        out = []
        for name, node in self.nodes.items():
            lines = [l for l in node.log().splitlines() if f'"doc":"{doc}"' in l]
            # An edit's path is four lines; its first and last are enough to place it in time.
            edits = [l for l in lines if '"msg":"edit ' in l]
            rest = [l for l in lines if '"msg":"edit ' not in l]
            kinds = {}
            for l in rest:
                msg = json.loads(l).get("msg")
                kinds[msg] = kinds.get(msg, 0) + 1
            out.append(f"--- {name}: {len(lines)} lines about {doc} ({len(edits)} about edits; others {kinds}), "
                       f"first and last {tail // 2} others")
            out.extend(rest if len(rest) <= tail else rest[:tail // 2] + ["..."] + rest[-(tail // 2):])
            if edits:
                out.extend(["first edit line: " + edits[0], "last edit line: " + edits[-1]])
        return "\n".join(out)

    def count(self, name, msg, **fields):
        """How many log lines of node `name` have `msg` and contain `fields`
        in their values (substrings)."""
        n = 0
        for line in self.nodes[name].log().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == msg and all(v in str(entry.get(k, "")) for k, v in fields.items()):
                n += 1
        return n


async def join(url, client_id, doc, failover=(), rate=15.0, bound=JOIN_BOUND):
    """A typist joined to `doc` through `url`, and how long its snapshot
    took (None: not within `bound`; the typist is closed then)."""
    t = Typist(url, client_id, doc, rate=rate, failover=failover)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(t.connect(), bound)
    except (asyncio.TimeoutError, OSError) as e:
        t.problems.append(f"join not answered within {bound} s: {e!r}")
        await t.close()
        return t, None
    return t, time.monotonic() - t0


async def keep_typing(t, stop, trouble):
    """Types until `stop`; a typist that can go no further (connection lost
    for good, no ack for its stall timeout) is noted in `trouble`."""
    try:
        while not stop.is_set():
            await t.type_for(0.25)
    except (ConnectionError, TimeoutError) as e:
        trouble.append(f"{t.client_id} ({t.doc}): {e}")


async def finish(cluster, typists, docs):
    """Waits for every edit's answer and every copy to catch up; then checks
    the histories against the servers' texts and the op log. Returns
    (violations, summary, texts)."""
    # Unanswered edits are the checker's to report, so timeouts are not raised.
    await asyncio.gather(*(t.settle(30) for t in typists), return_exceptions=True)
    texts = {}
    for doc in docs:
        per_node = {}
        for node in cluster.live():
            status, body = await asyncio.to_thread(node.get_document, doc)
            assert status == 200, (doc, status, body)
            per_node[node.ws_url] = body
        rev = max(int(b["rev"]) for b in per_node.values())
        on_doc = [t for t in typists if t.doc == doc]
        await asyncio.gather(*(t.wait_rev(rev, 20) for t in on_doc), return_exceptions=True)
        texts[doc] = {**{f"node {u}": b["text"] for u, b in per_node.items()}, **{t.client_id: t.text for t in on_doc}}
    rows = await asyncio.to_thread(psql, "SELECT doc_id, rev, epoch, client_id, client_seq FROM document_ops",
                                   cluster.database)
    violations, summary = check([t.log for t in typists], texts, rows)
    print(describe(summary))
    return violations, summary, texts


def assert_clean(cluster, typists, violations, trouble=()):
    """No checker violation, no typist told `fenced`/`not_joined` or any
    other error, nothing a typist could not apply, no typing given up; the
    failure message carries the servers' move log."""
    told = {t.client_id: t.fenced + t.errors for t in typists if t.fenced or t.errors}
    problems = {t.client_id: t.problems for t in typists if t.problems}
    if violations or told or problems or trouble:
        report = "\n".join([*violations[:40], f"errors told to typists: {told}", f"typist problems: {problems}",
                            f"typing given up: {list(trouble)}", cluster.move_log()])
        raise AssertionError(report)


def percentile(values, q):
    ordered = sorted(values)  # nearest rank, as history_checker does
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else 0.0


def pause_after(log, t0, window=1.0):
    """The longest ack latency (first send to first ack) of the edits this
    typist issued within `window` seconds after `t0`; None when it issued
    none then. Edits never acked are the checker's to report."""
    sent, acked = {}, {}
    for e in log.events:
        if e[0] == "send":
            sent.setdefault((e[1], e[2]), e[-1])
        elif e[0] == "ack":
            acked.setdefault((e[1], e[2]), e[-1])
    waits = [acked[k] - t for k, t in sent.items() if t0 <= t < t0 + window and k in acked]
    return max(waits) if waits else None


def pauses(events, typists):
    """[(kind, event number, client id, doc, pause)], a row per typist per
    event it issued edits after, for events [(kind, time.monotonic())]."""
    out = []
    for i, (kind, t0) in enumerate(events):
        for t in typists:
            p = pause_after(t.log, t0)
            if p is not None:
                out.append((kind, i, t.client_id, t.doc, p))
    return out


def by_kind(rows):
    """{kind: [pauses]} of pauses() rows."""
    out = {}
    for kind, _, _, _, p in rows:
        out.setdefault(kind, []).append(p)
    return out


def describe_pauses(by_kind, events):
    """One line per kind of move, for the note to quote."""
    lines = []
    for kind, values in sorted(by_kind.items()):
        n_events = sum(1 for k, _ in events if k == kind)
        lines.append(f"pause after {kind}: p50 {percentile(values, 0.5) * 1000:.0f} ms, "
                     f"p99 {percentile(values, 0.99) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms "
                     f"({len(values)} typist samples over {n_events} events)")
    return lines
