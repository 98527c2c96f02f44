// The stet protocol client: one WebSocket per tab with reconnect (backoff
// 1 s, 2 s, 4 s ... 30 s, with jitter), and per document the standard
// optimistic OT client: apply locally, one edit in flight, buffer the rest,
// transform incoming edits against them with exactly the server's rules.
import { Op, apply, compose, transform, transformPosition, withRemovedText } from './ot.js';
import { cpLength, cpSlice } from './unicode.js';

/** How a participant is shown: the server's user name, then the client id. */
export function peerName(p) {
  return p.user ? `${p.user} (${p.clientId})` : p.clientId;
}

export class Connection {
  constructor(url, { token, clientId, onState }) {
    this.url = url;
    this.token = token;
    this.clientId = clientId;
    // The id others see us by (the server's welcome says; for an anonymous
    // session it is derived from clientId, which stays our secret).
    this.shownId = clientId;
    this.onState = onState || (() => {});
    this.docs = new Map();
    this.attempt = 0;
    this.closed = false;
    this.open();
  }

  open() {
    this.onState({ state: 'connecting' });
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.send({ hello: { clientId: this.clientId, token: this.token || undefined } });
    };
    ws.onmessage = (e) => this.dispatch(JSON.parse(e.data));
    ws.onclose = () => {
      if (this.closed) return;
      const base = Math.min(30, 2 ** this.attempt++);
      const delay = base * (0.5 + Math.random() * 0.5); // jitter: 50-100 % of the step
      this.onState({ state: 'offline', retryIn: delay });
      this.retry = setTimeout(() => this.open(), delay * 1000);
    };
  }

  close() {
    this.closed = true;
    clearTimeout(this.retry);
    this.ws.close();
  }

  isOpen() {
    return this.ws && this.ws.readyState === WebSocket.OPEN && this.welcomed;
  }

  send(msg) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  dispatch(m) {
    if (m.welcome) {
      this.welcomed = true;
      this.shownId = m.welcome.clientId || this.clientId;
      this.username = m.welcome.username || '';
      this.onState({ state: 'online', username: m.welcome.username });
      for (const doc of this.docs.values()) doc.rejoin();
      return;
    }
    if (m.pong) return;
    const body = Object.values(m)[0];
    const doc = this.docs.get(body.docId);
    if (doc) doc.handle(m);
    else if (m.error) this.onState({ state: 'error', error: m.error });
  }
}

/**
 * One open document. `editor` is the view: {getText(), applyRemote(op),
 * setText(text)}; callbacks report presence, conflicts and errors.
 */
export class DocumentSession {
  constructor(conn, docId, editor, callbacks = {}) {
    this.conn = conn;
    this.docId = docId;
    this.editor = editor;
    this.cb = callbacks;
    this.rev = 0;
    this.known = false; // has a snapshot arrived since the last (re)join
    this.shadow = ''; // the text at this.rev, without our pending edits
    this.inflight = null; // {op, seq}
    this.buffer = null; // Op
    this.seq = 0;
    this.policy = 'lww';
    this.peers = new Map(); // peerName(p) -> {cursor, anchor}
    conn.docs.set(docId, this);
    if (conn.isOpen()) this.rejoin();
  }

  rejoin() {
    this.known = false;
    this.conn.send({ join: { docId: this.docId, knownRev: this.rev } });
  }

  leave() {
    this.conn.send({ leave: { docId: this.docId } });
    this.conn.docs.delete(this.docId);
  }

  pending() {
    return (this.inflight ? 1 : 0) + (this.buffer ? 1 : 0);
  }

  /** The user changed the text: `op` over the text before the change. */
  localEdit(op) {
    if (op.isNoop()) return;
    for (const p of this.peers.values()) this.movePeer(p, op);
    if (this.inflight) this.buffer = this.buffer ? compose(this.buffer, op) : op;
    else this.sendEdit(op, ++this.seq);
  }

  sendEdit(op, seq) {
    this.inflight = { op, seq };
    if (this.known)
      this.conn.send({ edit: { docId: this.docId, baseRev: this.rev, clientSeq: seq, clientTs: Date.now(), ops: op.toWire() } });
  }

  sendPresence(cursor, anchor) {
    if (this.known) this.conn.send({ presence: { docId: this.docId, cursor, anchor } });
  }

  handle(m) {
    if (m.snapshot) return this.onSnapshot(m.snapshot);
    if (m.ack) return this.onAck(m.ack);
    if (m.applied) return this.onApplied(m.applied);
    if (m.conflict) return this.cb.onConflict && this.cb.onConflict(m.conflict);
    if (m.presence) return this.onPresence(m.presence);
    if (m.error) return this.onError(m.error);
  }

  onSnapshot(s) {
    this.policy = s.policy || 'lww';
    if (s.resumed) {
      // The missed revisions follow; our unacked edit goes out again with its
      // old base and sequence number: the server applies it once.
      this.rev = Number(s.rev);
    } else {
      const text = s.text || '';
      const first = !this.known && this.rev === 0 && this.inflight === null && this.buffer === null;
      if (first) {
        this.shadow = text;
        this.rev = Number(s.rev || 0);
        this.editor.setText(text);
      } else {
        // History did not reach back: treat the difference as one edit that
        // came before ours, and rebase on it.
        const diff = diffOp(this.shadow, text);
        this.rev = Number(s.rev || 0);
        this.incoming(diff);
        this.shadow = text;
      }
    }
    this.known = true;
    this.peers.clear();
    for (const p of s.participants || [])
      if (!this.isMe(p)) this.peers.set(peerName(p), { cursor: null, anchor: null });
    this.cb.onPeers && this.cb.onPeers(this.peers);
    if (this.inflight) {
      const { op, seq } = this.inflight;
      this.conn.send({ edit: { docId: this.docId, baseRev: this.rev, clientSeq: seq, clientTs: Date.now(), ops: op.toWire() } });
    }
    this.cb.onSynced && this.cb.onSynced(this);
  }

  onAck(a) {
    if (!this.inflight || Number(a.clientSeq) !== this.inflight.seq) return; // a duplicate
    const rev = Number(a.rev);
    this.shadow = apply(this.shadow, this.inflight.op);
    this.rev = rev;
    this.inflight = null;
    if (this.buffer) {
      const next = this.buffer;
      this.buffer = null;
      this.sendEdit(next, ++this.seq);
    }
    this.cb.onSynced && this.cb.onSynced(this);
  }

  onApplied(a) {
    const rev = Number(a.rev);
    if (rev <= this.rev) return;
    if (rev !== this.rev + 1) {
      // A gap: resync from the owner (joining again resumes from this.rev).
      this.rejoin();
      return;
    }
    const op = Op.fromWire(a.ops);
    this.shadow = apply(this.shadow, op);
    this.rev = rev;
    this.incoming(op);
    this.cb.onSynced && this.cb.onSynced(this);
  }

  // An edit serialised before everything we have pending: transform both
  // ways, as the server does, and show it.
  incoming(op) {
    if (this.inflight) {
      const t = transform(op, this.inflight.op, this.policy);
      this.inflight.op = t.later;
      op = t.earlier;
    }
    if (this.buffer) {
      const t = transform(op, this.buffer, this.policy);
      this.buffer = t.later;
      op = t.earlier;
    }
    for (const p of this.peers.values()) this.movePeer(p, op);
    this.editor.applyRemote(op);
    this.cb.onPeers && this.cb.onPeers(this.peers);
  }

  movePeer(p, op) {
    if (p.cursor !== null) p.cursor = transformPosition(p.cursor, op);
    if (p.anchor !== null) p.anchor = transformPosition(p.anchor, op);
  }

  // The server says who a participant is (user and client id); a client
  // id alone is the client's choice and can be copied.
  isMe(p) {
    return p.clientId === this.conn.shownId && (p.user || '') === (this.conn.username || '');
  }

  onPresence(p) {
    if (this.isMe(p)) return;
    if (p.left) this.peers.delete(peerName(p));
    else this.peers.set(peerName(p), { cursor: p.cursor ?? null, anchor: p.anchor ?? null });
    this.cb.onPeers && this.cb.onPeers(this.peers);
  }

  onError(e) {
    if (e.code === 'rev_too_old' || e.code === 'bad_rev') {
      this.rev = 0; // ask for the text again; pending edits rebase on it
      this.rejoin();
      return;
    }
    if (e.code === 'fenced' || (e.code === 'storage_unavailable' && !this.known)) {
      // The document moved to another node, or the cluster is settling:
      // join again; unacked edits are resent once the snapshot arrives.
      setTimeout(() => this.rejoin(), 200);
      return;
    }
    this.cb.onError && this.cb.onError(e);
  }
}

/** One replace op turning `from` into `to` (common prefix and suffix kept). */
export function diffOp(from, to) {
  const a = [...from], b = [...to];
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  const op = new Op().retain(p).insert(b.slice(p, b.length - s).join('')).erase(a.length - p - s);
  return withRemovedText(from, op);
}

/** The op a Monaco content change makes, over the text before it. */
export function opFromMonacoChanges(before, changes) {
  const sorted = [...changes].sort((x, y) => x.rangeOffset - y.rangeOffset);
  const op = new Op();
  let u = 0;
  for (const c of sorted) {
    op.retain(cpLength(before.slice(u, c.rangeOffset)));
    op.insert(c.text);
    op.erase(cpLength(before.slice(c.rangeOffset, c.rangeOffset + c.rangeLength)),
      before.slice(c.rangeOffset, c.rangeOffset + c.rangeLength));
    u = c.rangeOffset + c.rangeLength;
  }
  return op;
}

export { cpSlice };
