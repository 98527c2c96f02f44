"""A WebSocket client of stet (Debian's python3-websockets), independent of
the server's code: joins, edits with resends across reconnects, follows
failover, and keeps its copy of each document by applying what it hears."""

import asyncio
import json
import time

import websockets


def apply_ops(text, ops):
    """Applies wire components to a str (Python indexes code points, as stet does)."""
    out, pos = [], 0
    for c in ops:
        if "retain" in c:
            n = int(c["retain"])
            if pos + n > len(text):
                raise ValueError(f"retain past the end: {c} on {len(text)} code points")
            out.append(text[pos:pos + n])
            pos += n
        elif "insert" in c:
            out.append(c["insert"])
        elif "delete" in c:
            n = int(c["delete"])
            if pos + n > len(text):
                raise ValueError(f"delete past the end: {c}")
            pos += n
    out.append(text[pos:])
    return "".join(out)


class Client:
    """A simple 'echo' client: it does not apply its own edits optimistically;
    it mirrors the server's text by applying every `applied` in rev order."""

    def __init__(self, url, client_id, failover=None, **connect_args):
        # failover: more URLs to reconnect to when this node goes away.
        self.url, self.client_id, self.connect_args = url, client_id, connect_args
        self.urls = [url] + list(failover or [])
        self.closing = False
        self.reconnects = 0
        self.ws = None
        self.text, self.rev = "", 0
        self.acks = {}        # client_seq -> rev
        self.unacked = {}     # client_seq -> (ops, base_rev): resent after a move
        self.doc = None
        self.resyncs = 0
        self.resyncing = False  # while set, edits wait for the resync to send them
        self.resync_again = False
        self.errors = []      # error messages
        self.conflicts = []
        self.applied = []     # every applied message, in arrival order
        self.other = []       # everything else, in arrival order
        self._reader = None
        self._snapshot = None

    async def connect(self, token=None):
        self.ws = await websockets.connect(self.url, max_size=64 * 1024 * 1024, **self.connect_args)
        hello = {"clientId": self.client_id}
        if token:
            hello["token"] = token
        await self.ws.send(json.dumps({"hello": hello}))
        welcome = json.loads(await self.ws.recv())
        assert "welcome" in welcome, welcome
        self.welcome = welcome["welcome"]
        self._reader = asyncio.create_task(self._read())
        return self

    async def join(self, doc_id, known_rev=0, policy=None, echo=True):
        self.doc, self.echo = doc_id, echo
        self._snapshot = asyncio.get_running_loop().create_future()
        join = {"docId": doc_id, "knownRev": known_rev, "echo": echo}
        if policy:
            join["policy"] = policy
        await self.ws.send(json.dumps({"join": join}))
        snap = await asyncio.wait_for(self._snapshot, 20)
        return snap

    async def _read(self):
        while True:
            try:
                async for frame in self.ws:
                    self.handle(json.loads(frame))
            except websockets.ConnectionClosed:
                pass
            if self.closing or len(self.urls) < 2 or not self.doc:
                return
            await self._failover()

    async def _failover(self):
        """The node went away: connect to another, resume, resend."""
        self.reconnects += 1
        self.resyncing = True
        for attempt in range(200):
            url = self.urls[(attempt + 1) % len(self.urls)]
            try:
                self.ws = await websockets.connect(url, max_size=64 * 1024 * 1024)
                await self.ws.send(json.dumps({"hello": {"clientId": self.client_id}}))
                json.loads(await self.ws.recv())
                self.urls = [url] + [u for u in self.urls if u != url]
                break
            except (OSError, websockets.WebSocketException):
                await asyncio.sleep(0.1)
        await self.ws.send(json.dumps({"join": {"docId": self.doc, "knownRev": self.rev, "echo": self.echo}}))
        await asyncio.sleep(0.2)
        await self._resend_unacked()
        self.resyncing = False

    def handle(self, m):
        self.trace = (getattr(self, "trace", []) + [json.dumps(m)[:160]])[-40:]
        if "snapshot" in m:
            s = m["snapshot"]
            if not s.get("resumed"):
                self.text = s.get("text", "")
            self.rev = int(s.get("rev", 0))
            if self._snapshot and not self._snapshot.done():
                self._snapshot.set_result(s)
        elif "applied" in m:
            a = m["applied"]
            rev = int(a["rev"])
            assert rev == self.rev + 1, f"{self.client_id}: gap: have {self.rev}, got {rev}"
            self.text = apply_ops(self.text, a.get("ops", []))
            self.rev = rev
            self.applied.append(a)
        elif "ack" in m:
            seq = int(m["ack"]["clientSeq"])
            self.acks[seq] = int(m["ack"]["rev"])
            self.unacked.pop(seq, None)
        elif "error" in m and m["error"]["code"] in ("fenced", "storage_unavailable") and self.doc:
            # The document moved (or the cluster is settling): join again
            # where it is now and resend what was never acked, in order.
            self.resync_again = True  # a resync under way must go round once more
            if not self.resyncing:
                self.resyncing = True
                self.resyncs += 1
                asyncio.get_running_loop().create_task(self._resync())
        elif ("error" in m and m["error"]["code"] == "not_joined" and self.resyncing
              and int(m["error"].get("clientSeq", 0)) in self.unacked):
            pass  # sent while the document was moving; the resync under way resends it
        elif "error" in m:
            self.errors.append(m["error"])
        elif "conflict" in m:
            self.conflicts.append(m["conflict"])
        else:
            self.other.append(m)

    async def edit(self, doc_id, seq, ops, base_rev=None):
        base = self.rev if base_rev is None else base_rev
        self.unacked[seq] = (ops, base)
        if self.resyncing:
            return  # the resync sends it after what came before (the server dedupes by order)
        try:
            await self._send_edit(doc_id, seq, ops, base)
        except websockets.ConnectionClosed:
            if len(self.urls) < 2:
                raise  # single-node tests want to see the drop; with failover it is resent

    async def _send_edit(self, doc_id, seq, ops, base):
        await self.ws.send(json.dumps({"edit": {
            "docId": doc_id, "baseRev": base,
            "clientSeq": seq, "clientTs": int(time.time() * 1000), "ops": ops}}))

    async def _resync(self):
        try:
            while self.resync_again:
                self.resync_again = False
                await asyncio.sleep(0.2)
                await self.ws.send(json.dumps({"join": {"docId": self.doc, "knownRev": self.rev, "echo": self.echo}}))
                await asyncio.sleep(0.2)
                if not self.resync_again:
                    await self._resend_unacked()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.resyncing = False

    async def _resend_unacked(self):
        sent = set()
        while True:
            todo = sorted(seq for seq in self.unacked if seq not in sent)
            if not todo:
                return
            for seq in todo:
                ops, base = self.unacked.get(seq, (None, None))
                if ops is not None:
                    await self._send_edit(self.doc, seq, ops, base)
                sent.add(seq)

    async def wait_for(self, predicate, timeout=30):
        deadline = time.time() + timeout
        while not predicate():
            if time.time() > deadline:
                raise TimeoutError(f"{self.client_id}: condition not met (rev {self.rev}, errors {self.errors[-3:]})")
            await asyncio.sleep(0.01)

    async def close(self):
        self.closing = True
        await self.ws.close()
        if self._reader:
            await self._reader
