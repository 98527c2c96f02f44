"""Checks what the clients of a run saw against what the server kept: no
acked edit lost or doubled, every request answered, every client saw the
same edit at each revision and no revision skipped, and (given the op log
from PostgreSQL) one lease at a time committed a gapless log. It also
measures the pause a typist sees: how long its edits wait for their acks.

Clients append to a `ClientLog` as they go; `check()` reads them all after
the run. Events are tuples, the time (`time.monotonic()`) last:

    ("send", doc, client_seq, t)          an edit issued or put on the wire again
    ("ack", doc, client_seq, rev, t)      rev 0: a resend acked as a duplicate
    ("applied", doc, rev, author, client_seq or None, t)
    ("snapshot", doc, rev, resumed, t)
    ("error", doc, code, client_seq, t)
"""

import math
import time

# Refusals that mean "not applied, resend later" (docs/protocol.md, Errors):
# an edit refused so is still waiting, as its typist sees it.
RETRY_LATER = frozenset({"rate_limited", "storage_unavailable", "out_of_order", "overloaded"})


class ClientLog:
    """One client's ordered history. `client_id` is what the client asked to
    be called; `author_id` is the id the server gave it (welcome.clientId,
    what `applied.author` and document_ops.client_id carry); set it once
    known. Each edit inserts `marker(seq)` unless `send()` says otherwise."""

    def __init__(self, client_id):
        self.client_id = client_id
        self.author_id = client_id
        self.events = []
        self.markers = {}  # (doc, seq) -> text the edit inserted

    @staticmethod
    def default_marker(client_id, seq):
        return f"<{client_id}.{seq}>"

    def marker(self, doc, seq):
        return self.markers.get((doc, seq), self.default_marker(self.client_id, seq))

    def send(self, doc, seq, marker=None):
        if marker is not None:
            self.markers[(doc, seq)] = marker
        self.events.append(("send", doc, seq, time.monotonic()))

    def ack(self, doc, seq, rev):
        self.events.append(("ack", doc, seq, rev, time.monotonic()))

    def applied(self, doc, rev, author, seq=None):
        self.events.append(("applied", doc, rev, author, seq, time.monotonic()))

    def snapshot(self, doc, rev, resumed):
        self.events.append(("snapshot", doc, rev, bool(resumed), time.monotonic()))

    def error(self, doc, code, seq=0):
        self.events.append(("error", doc, code, seq, time.monotonic()))


def _percentile(values, q):
    if not values:
        return 0.0
    ordered = sorted(values)  # nearest rank
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _sources(value):
    """final_texts values: one text, or {source name: text}, or a list."""
    if isinstance(value, str):
        return {"server": value}
    if isinstance(value, dict):
        return dict(value)
    return {f"text{i}": t for i, t in enumerate(value)}


class _Run:
    def __init__(self):
        self.violations = []
        self.acked = {}       # (doc, author, seq) -> set of nonzero revs (empty: acked as duplicate only)
        self.sent = {}        # (doc, author) -> {seq: marker}
        self.refused = {}     # (doc, author, seq) -> error code that last answered it
        self.at_rev = {}      # (doc, rev) -> {(author, seq): [who said so]}
        self.latencies = {}   # client -> [seconds from first send to first ack]
        self.stalls = {}      # client -> longest time with edits waiting and no ack coming

    def report(self, text):
        self.violations.append(text)

    def claim(self, doc, rev, author, seq, who):
        self.at_rev.setdefault((doc, rev), {}).setdefault((author, seq), []).append(who)

    def read_log(self, log):
        first_send, answered_after, acked_at = {}, {}, {}
        last_rev = {}  # doc -> the revision this client's copy was at
        out, stall_from, longest = set(), None, 0.0
        who = log.client_id
        for e in log.events:
            kind, doc, t = e[0], e[1], e[-1]
            if kind == "send":
                seq = e[2]
                self.refused.pop((doc, log.author_id, seq), None)
                first_send.setdefault((doc, seq), t)
                answered_after[(doc, seq)] = False
                self.sent.setdefault((doc, log.author_id), {})[seq] = log.marker(doc, seq)
                if not out:
                    stall_from = t
                out.add((doc, seq))
            elif kind == "ack":
                seq, rev = e[2], e[3]
                answered_after[(doc, seq)] = True
                revs = self.acked.setdefault((doc, log.author_id, seq), set())
                if rev:
                    revs.add(rev)
                    self.claim(doc, rev, log.author_id, seq, f"{who} (ack)")
                if (doc, seq) in first_send and (doc, seq) not in acked_at:
                    acked_at[(doc, seq)] = t
                    self.latencies.setdefault(who, []).append(t - first_send[(doc, seq)])
                if (doc, seq) in out:
                    longest = max(longest, t - stall_from)
                    out.discard((doc, seq))
                    stall_from = t
            elif kind == "error":
                seq = e[3]
                if seq and (doc, seq) in answered_after:
                    answered_after[(doc, seq)] = True
                    self.refused[(doc, log.author_id, seq)] = e[2]
                    if e[2] not in RETRY_LATER:
                        out.discard((doc, seq))
            elif kind == "snapshot":
                rev, resumed = e[2], e[3]
                prev = last_rev.get(doc)
                # A resumed snapshot may go back: revisions that crossed the
                # join come again, and must be the same edits (checked per rev).
                if prev is not None and rev < prev and not resumed:
                    self.report(f"{who}: {doc}: snapshot at rev {rev} after the client had seen rev {prev} "
                                f"(committed revisions lost)")
                last_rev[doc] = rev
            elif kind == "applied":
                rev, author, seq = e[2], e[3], e[4]
                prev = last_rev.get(doc)
                if prev is None:
                    self.report(f"{who}: {doc}: applied rev {rev} before any snapshot")
                elif rev != prev + 1:
                    what = "a gap" if rev > prev + 1 else "a repeat"
                    self.report(f"{who}: {doc}: applied rev {rev} after rev {prev} ({what})")
                last_rev[doc] = rev
                self.claim(doc, rev, author, seq, who)
        for (doc, seq), answered in sorted(answered_after.items()):
            if not answered:
                self.report(f"{who}: {doc}: edit {seq} ({log.marker(doc, seq)}) was never answered (no ack, no error)")
        self.stalls[who] = longest
        return sum(1 for (doc, seq) in acked_at)

    def check_revisions(self):
        for (doc, rev), edits in sorted(self.at_rev.items()):
            known = {}
            for (author, seq), whom in edits.items():
                if seq is None:
                    continue
                known[(author, seq)] = whom
            authors = {a for a, _ in edits}
            if len(known) > 1 or len(authors) > 1:
                seen = "; ".join(f"{a}.{s} per {', '.join(w)}" for (a, s), w in sorted(edits.items(), key=str))
                self.report(f"{doc}: two different edits at rev {rev}: {seen}")
        for (doc, author, seq), revs in sorted(self.acked.items(), key=str):
            if len(revs) > 1:
                self.report(f"{doc}: {author}.{seq} acked at several revs {sorted(revs)} (committed twice)")

    def check_texts(self, final_texts):
        docs = {doc for (doc, _) in self.sent}
        for doc in sorted(docs - set(final_texts)):
            self.report(f"{doc}: no final text given, so its acked edits cannot be checked")
        for doc, value in sorted(final_texts.items()):
            texts = _sources(value)
            distinct = {}
            for source, text in texts.items():
                distinct.setdefault(text, []).append(source)
            if len(distinct) > 1:
                lengths = ", ".join(f"{'/'.join(s)}: {len(t)} chars" for t, s in distinct.items())
                self.report(f"{doc}: final texts differ ({lengths})")
            for text, sources in distinct.items():
                where = "/".join(sources)
                for (d, author), markers in sorted(self.sent.items()):
                    if d != doc:
                        continue
                    for seq, marker in sorted(markers.items()):
                        n = text.count(marker)
                        if (doc, author, seq) in self.acked and n != 1:
                            self.report(f"{doc}: acked edit {author}.{seq} appears {n} times in {where} ({marker})")
                        elif (doc, author, seq) in self.refused and n:
                            # Every refusal stet sends means "not applied".
                            self.report(f"{doc}: edit {author}.{seq} was refused "
                                        f"({self.refused[(doc, author, seq)]}) but appears in {where} ({marker})")
                        elif n > 1:
                            self.report(f"{doc}: unacked edit {author}.{seq} appears {n} times in {where} ({marker})")

    def check_ops(self, ops_rows):
        by_doc = {}
        for doc, rev, epoch, client, seq in ops_rows:
            by_doc.setdefault(doc, []).append((int(rev), int(epoch), client, int(seq)))
        for doc, rows in sorted(by_doc.items()):
            rows.sort()
            committed = {}
            for i, (rev, epoch, client, seq) in enumerate(rows):
                if i and rev != rows[i - 1][0] + 1:
                    self.report(f"{doc}: document_ops has rev {rows[i - 1][0]} then {rev} (not gapless)")
                if i and epoch < rows[i - 1][1]:
                    self.report(f"{doc}: document_ops rev {rev} committed under epoch {epoch} after rev "
                                f"{rows[i - 1][0]} under epoch {rows[i - 1][1]} (two leases overlapped)")
                if (client, seq) in committed:
                    self.report(f"{doc}: document_ops commits {client}.{seq} twice (revs {committed[(client, seq)]} "
                                f"and {rev})")
                committed.setdefault((client, seq), rev)
                for (author, s), whom in self.at_rev.get((doc, rev), {}).items():
                    if (author, s) != (client, seq) and s is not None:
                        self.report(f"{doc}: rev {rev} is {client}.{seq} in document_ops but {author}.{s} "
                                    f"per {', '.join(whom)}")
            last = rows[-1][0]
            for (d, author, seq), revs in sorted(self.acked.items(), key=str):
                for rev in revs:
                    if d == doc and rev > last:
                        self.report(f"{doc}: {author}.{seq} acked at rev {rev} but document_ops ends at rev {last}")


def check(logs, final_texts, ops_rows=None):
    """Checks the histories of one run. logs: ClientLogs; final_texts: doc ->
    its text, or {source: text} for the server's GET and each client's copy
    (all must be equal); ops_rows: (doc_id, rev, epoch, client_id,
    client_seq) rows of document_ops, when the run used PostgreSQL.
    Returns (violations: list of str, summary: dict); no violations = fine."""
    run = _Run()
    acked = sum(run.read_log(log) for log in logs)
    run.check_revisions()
    run.check_texts(final_texts)
    if ops_rows is not None:
        run.check_ops(ops_rows)
    everyone = [x for v in run.latencies.values() for x in v]
    per_client = {
        log.client_id: {
            "acked": len(run.latencies.get(log.client_id, [])),
            "sends": sum(1 for e in log.events if e[0] == "send"),
            "max_pause": max(run.latencies.get(log.client_id, []), default=0.0),
            "p50": _percentile(run.latencies.get(log.client_id, []), 0.50),
            "p99": _percentile(run.latencies.get(log.client_id, []), 0.99),
            "longest_stall": run.stalls.get(log.client_id, 0.0),
        } for log in logs}
    summary = {
        "acked_edits_checked": len(run.acked),
        "acked_with_latency": acked,
        "requests": sum(1 for log in logs for e in log.events if e[0] == "send"),
        "errors": sum(1 for log in logs for e in log.events if e[0] == "error"),
        "max_pause": max(everyone, default=0.0),
        "p50": _percentile(everyone, 0.50),
        "p99": _percentile(everyone, 0.99),
        "longest_stall": max(run.stalls.values(), default=0.0),
        "clients": per_client,
    }
    return run.violations, summary


def describe(summary):
    """One line for a test's output: what was checked and the pauses seen."""
    return (f"{summary['acked_edits_checked']} acked edits checked, {summary['requests']} sends, "
            f"{summary['errors']} errors; ack latency p50 {summary['p50'] * 1000:.0f} ms, "
            f"p99 {summary['p99'] * 1000:.0f} ms, longest pause {summary['max_pause'] * 1000:.0f} ms, "
            f"longest stall {summary['longest_stall'] * 1000:.0f} ms")
