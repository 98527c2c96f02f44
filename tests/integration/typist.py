"""A typist: a WebSocket client of stet that types at a steady rate into one
document and records everything it sends and hears in a
history_checker.ClientLog, for tests that break the network or the cluster
under it and then check the histories.

It follows docs/protocol.md and nothing else (no server code): hello, join
with echo, edits with clientSeq and baseRev, resume by knownRev after a lost
connection with the unacked edits resent in order. Unlike ws_client.Client
it does not rejoin when told `fenced` or `not_joined` unless asked to: a
server that moves documents without its clients noticing must never send
them, so the typist records them (`fenced`) for the test to assert on.

Its copy of the document is the server's text at `rev`: it joins with echo
and applies every `applied`, its own included, in revision order, as
ws_client.Client does. Edits are made on that copy and sent with baseRev =
`rev`; the server transforms them past whatever it ordered first (the
typist's own unacked edits too). Each edit inserts a unique marker
`<client_id.seq>` at a position between markers, never inside one, so
concurrent inserts cannot split a marker and the checker can find each edit
exactly once."""

import asyncio
import json
import random
import time

import websockets

from history_checker import RETRY_LATER, ClientLog
from ws_client import apply_ops

# What a server whose documents move transparently must never send.
MOVE_ERRORS = {"fenced", "not_joined"}


def boundaries(text):
    """Positions of `text` that are not inside a `<...>` marker."""
    out, inside = [0], False
    for i, ch in enumerate(text):
        if ch == "<":
            inside = True
        elif ch == ">":
            inside = False
        if not inside:
            out.append(i + 1)
    return out


class Typist:
    """Types into `doc` through `url`. With `failover` URLs (or
    reconnect=True) a lost connection is followed by a new one, to the next
    URL in turn, a resumed join and the unacked edits resent; `reconnects`
    counts them. Other keyword arguments go to websockets.connect. Use from
    one event loop; `connect()` first, `close()` last."""

    def __init__(self, url, client_id, doc, *, rate=20.0, max_unacked=8, failover=(), reconnect=None,
                 rejoin_on_fenced=False, policy="merge", seed=None, token=None, log=None,
                 reconnect_timeout=30.0, stall_timeout=30.0, **connect_args):
        if "<" in client_id or ">" in client_id:
            raise ValueError("client_id may not contain < or >: they delimit the markers")
        self.urls = [url] + list(failover)
        self.client_id, self.doc, self.rate, self.max_unacked = client_id, doc, rate, max_unacked
        self.reconnect = bool(failover) if reconnect is None else reconnect
        self.rejoin_on_fenced, self.policy, self.token = rejoin_on_fenced, policy, token
        self.reconnect_timeout, self.stall_timeout = reconnect_timeout, stall_timeout
        # websockets.connect's: ping_interval/ping_timeout decide how soon a
        # peer that stopped answering (a black hole) counts as gone.
        self.connect_args = {"open_timeout": 5, "close_timeout": 1, **connect_args}
        self.rng = random.Random(seed if seed is not None else client_id)
        self.log = log or ClientLog(client_id)
        self.text, self.rev = "", 0
        self.seq = 0
        self.unacked = {}     # seq -> (ops, base_rev), in seq order
        self.acks = {}        # seq -> rev
        self.refused = {}     # seq -> error code, for edits finally refused
        self.fenced = []      # error messages with a code in MOVE_ERRORS
        self.errors = []      # every other error message
        self.conflicts = []
        self.problems = []    # what the typist could not apply (a gap, a bad op)
        self.reconnects = 0
        self.rejoins = 0
        self.lost = False     # the connection went and no new one could be made
        self.ws = None
        self._closing = False
        self._holding = True  # while set, edits wait for a (re)join to send them
        self._wire_seq = 0    # every unacked seq up to here is on the wire, in order
        self._sent = set()    # seqs put on the wire at least once
        self._replayed_upto = 0
        self._lock = asyncio.Lock()
        self._reader = None
        self._snapshot = None
        self._retry = None
        self._retry_from = 0  # lowest seq refused for now since the last resend
        self._rejoin = None
        self._rejoin_again = False

    # -- connection --

    async def connect(self):
        """Says hello on the first URL and joins the document; returns once
        the snapshot is in."""
        await self._open(self.urls[0])
        self._reader = asyncio.create_task(self._read())
        await self._join(known_rev=0)
        await asyncio.wait_for(self._snapshot, 20)
        await self._release()
        return self

    async def _open(self, url):
        self.ws = await websockets.connect(url, max_size=64 * 1024 * 1024, **self.connect_args)
        hello = {"clientId": self.client_id}
        if self.token:
            hello["token"] = self.token
        await self.ws.send(json.dumps({"hello": hello}))
        welcome = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        if "welcome" not in welcome:
            raise ConnectionError(f"{self.client_id}: no welcome from {url}: {welcome}")
        # The server's name for us: what applied.author and the op log carry.
        self.log.author_id = welcome["welcome"].get("clientId", self.client_id)
        self.urls = [url] + [u for u in self.urls if u != url]

    async def _join(self, known_rev):
        self._holding = True
        self._snapshot = asyncio.get_running_loop().create_future()
        join = {"docId": self.doc, "knownRev": known_rev, "echo": True, "policy": self.policy}
        await self.ws.send(json.dumps({"join": join}))

    async def _release(self):
        """Puts every unacked edit back on the wire, oldest first: the server
        dedupes by clientSeq and takes each client's edits in order."""
        async with self._lock:
            self._wire_seq = 0
            self._holding = False
        await self._flush()

    async def _read(self):
        while True:
            try:
                async for frame in self.ws:
                    try:
                        self._handle(json.loads(frame))  # one message a frame: no batch in hello
                    except (ValueError, KeyError, TypeError) as e:
                        # Recorded, not raised: a dead reader would look like a server that stopped answering.
                        self.problems.append(f"unreadable message {frame[:200]!r}: {e!r}")
            except websockets.ConnectionClosed:
                pass
            if self._closing:
                return
            if not self.reconnect or not await self._reconnect():
                self.lost = True
                self._holding = True
                return

    async def _reconnect(self):
        """The node went away: the next URL that answers, a resumed join,
        the unacked edits resent. False when none answered in time."""
        self.reconnects += 1
        self._holding = True
        deadline = time.monotonic() + self.reconnect_timeout
        attempt = 0
        while time.monotonic() < deadline and not self._closing:
            attempt += 1
            url = self.urls[attempt % len(self.urls)]
            try:
                await self._open(url)
                await self._join(known_rev=self.rev)
                # Edits sent before the snapshot wait for it on the server.
                await self._release()
                return True
            except (OSError, asyncio.TimeoutError, ConnectionError, websockets.WebSocketException):
                if self.ws is not None:
                    self.ws.transport.abort()  # a half-made connection must not linger on the node
                await asyncio.sleep(0.1)
        return False

    async def close(self):
        self._closing = True
        for task in (self._retry, self._rejoin):
            if task:
                task.cancel()
        if self.ws:
            await self.ws.close()
        if self._reader:
            await self._reader

    # -- what the server says --

    def _handle(self, m):
        if "snapshot" in m:
            s = m["snapshot"]
            rev, resumed = int(s.get("rev", 0)), bool(s.get("resumed"))
            self.log.snapshot(self.doc, rev, resumed)
            if not resumed:
                self.text, self.rev = s.get("text", ""), rev
            elif rev < self.rev:
                # Revisions that crossed our join on the wire come again; the copy has them.
                self._replayed_upto = self.rev
            else:
                self.rev = rev
            if self._snapshot and not self._snapshot.done():
                self._snapshot.set_result(s)
        elif "applied" in m:
            a = m["applied"]
            rev = int(a["rev"])
            seq = int(a["clientSeq"]) if "clientSeq" in a else None
            self.log.applied(self.doc, rev, a.get("author", ""), seq)
            if rev <= self.rev:
                if rev > self._replayed_upto:
                    self.problems.append(f"applied rev {rev} again (have {self.rev})")
                return
            if rev != self.rev + 1:
                self.problems.append(f"gap: have rev {self.rev}, got {rev}")
            try:
                self.text = apply_ops(self.text, a.get("ops", []))
            except ValueError as e:
                self.problems.append(f"rev {rev}: {e}")
            self.rev = rev
        elif "ack" in m:
            seq, rev = int(m["ack"]["clientSeq"]), int(m["ack"].get("rev", 0))
            self.log.ack(self.doc, seq, rev)
            self.acks.setdefault(seq, rev)
            self.unacked.pop(seq, None)
            self._sent.discard(seq)
        elif "error" in m:
            self._on_error(m["error"])
        elif "conflict" in m:
            self.conflicts.append(m["conflict"])

    def _on_error(self, err):
        code, seq = err.get("code", ""), int(err.get("clientSeq", 0))
        self.log.error(err.get("docId", self.doc), code, seq)
        if code in MOVE_ERRORS:
            self.fenced.append(err)
            if self.rejoin_on_fenced:
                self._rejoin_again = True
                if not self._rejoin or self._rejoin.done():
                    self._rejoin = asyncio.get_running_loop().create_task(self._rejoin_loop())
                return
        elif code in RETRY_LATER:
            if seq in self.unacked:
                self._retry_from = min(self._retry_from or seq, seq)
                if not self._retry or self._retry.done():
                    self._retry = asyncio.get_running_loop().create_task(self._resend_later())
            return
        else:
            # Final, rev_too_old included: rebasing would need a new clientSeq
            # (the server takes a seq below the last applied one for a
            # duplicate), and a typist's edits never wait that long.
            self.errors.append(err)
        if seq in self.unacked:  # answered: it will not be applied
            self.unacked.pop(seq)
            self.refused[seq] = code

    async def _resend_later(self):
        # The refused edit and every later one (refused as out_of_order) go again, in order.
        await asyncio.sleep(0.2)
        async with self._lock:
            self._wire_seq = min(self._wire_seq, self._retry_from - 1)
            self._retry_from = 0
        await self._flush()

    async def _rejoin_loop(self):
        try:
            while self._rejoin_again and not self._closing:
                self._rejoin_again = False
                self.rejoins += 1
                await asyncio.sleep(0.1)
                await self._join(known_rev=self.rev)
                await self._release()
                # A second join before this one's snapshot would be refused.
                await asyncio.wait_for(asyncio.shield(self._snapshot), 20)
        except (websockets.ConnectionClosed, asyncio.TimeoutError):
            pass  # the reader reconnects, if it may

    # -- typing --

    def _next_edit(self):
        self.seq += 1
        marker = ClientLog.default_marker(self.client_id, self.seq)
        pos = self.rng.choice(boundaries(self.text))
        ops = ([{"retain": pos}] if pos else []) + [{"insert": marker}]
        self.unacked[self.seq] = (ops, self.rev)
        self.log.send(self.doc, self.seq, marker)
        return self.seq

    async def _flush(self):
        """Sends, in order, the unacked edits not yet on the wire."""
        async with self._lock:
            for seq in sorted(self.unacked):
                if self._holding or self.ws is None:
                    return
                if seq <= self._wire_seq or seq not in self.unacked:
                    continue
                ops, base = self.unacked[seq]
                if seq in self._sent:  # a resend is another request to be answered
                    self.log.send(self.doc, seq)
                self._sent.add(seq)
                try:
                    await self.ws.send(json.dumps({"edit": {
                        "docId": self.doc, "baseRev": base, "clientSeq": seq,
                        "clientTs": int(time.time() * 1000), "ops": ops}}))
                except websockets.ConnectionClosed:
                    return  # the reader reconnects and resends
                self._wire_seq = seq

    async def type_one(self, give_up_at=None):
        """Makes one edit, waiting first while `max_unacked` are out. Returns
        False, having made none, if that wait lasts past `give_up_at`
        (time.monotonic()); raises TimeoutError after `stall_timeout`."""
        stalled_since = time.monotonic()
        while True:
            if self.lost or self._closing:
                raise ConnectionError(f"{self.client_id}: connection lost with {len(self.unacked)} edits unacked")
            if len(self.unacked) < self.max_unacked:
                break
            now = time.monotonic()
            if give_up_at is not None and now >= give_up_at:
                return False
            if now - stalled_since > self.stall_timeout:
                raise TimeoutError(f"{self.client_id}: no ack for {self.stall_timeout} s "
                                   f"(unacked {sorted(self.unacked)[:8]}, rev {self.rev})")
            await asyncio.sleep(0.005)
        self._next_edit()
        await self._flush()
        return True

    async def type_for(self, seconds):
        """Types at `rate` edits a second for `seconds`; returns how many."""
        return await self._type(deadline=time.monotonic() + seconds)

    async def type_n(self, n):
        return await self._type(count=n)

    async def _type(self, deadline=None, count=None):
        start, made = time.monotonic(), 0
        while (count is None or made < count) and (deadline is None or time.monotonic() < deadline):
            if not await self.type_one(give_up_at=deadline):
                break
            made += 1
            due, now = start + made / self.rate, time.monotonic()
            if due < now:
                start += now - due  # after a stall, keep the rhythm from here instead of bursting
            else:
                await asyncio.sleep(due - now)
        return made

    async def settle(self, timeout=30):
        """Waits until every edit sent is answered (acked or refused)."""
        await self.wait_for(lambda: not self.unacked, timeout, "edits unanswered")

    async def wait_rev(self, rev, timeout=30):
        """Waits until the copy has reached `rev` (the server's, say)."""
        await self.wait_for(lambda: self.rev >= rev, timeout, f"rev {rev} not reached")

    async def wait_for(self, predicate, timeout=30, what="condition not met"):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.client_id}: {what} (rev {self.rev}, unacked {sorted(self.unacked)[:8]}, "
                                   f"lost {self.lost}, errors {(self.fenced + self.errors)[-3:]})")
            await asyncio.sleep(0.01)
