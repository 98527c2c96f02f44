// One open document: the standard optimistic OT client. Local edits apply
// at once; one edit is in flight, later ones are composed into a buffer;
// edits from others are transformed against both with exactly the server's
// rules (ot.js), so every client ends with the server's text.
import { Emitter } from './emitter.js';
import { Op, apply, compose, invert, transform, transformPosition, withRemovedText } from './ot.js';
import { diffOp } from './diff.js';
import { peerName } from './presence.js';
import { cpLength } from './unicode.js';
import { UndoHistory } from './undo.js';
import { CommentThreads } from './comments.js';
import { addComment, threadRequest } from './comments-api.js';

// Refusals that resending the same edit cannot get past: the edit is
// dropped and undone locally, and the application hears why.
const FINAL = new Set(['forbidden', 'out_of_range', 'invalid_argument', 'invalid_utf8', 'nul_character',
  'document_too_large', 'too_many_ops', 'bad_message', 'unknown_message']);

export class StetDocument extends Emitter {
  /** Made by StetConnection.open; not constructed directly. */
  constructor(connection, id, { policy, undoGroupMs } = {}) {
    super();
    this.connection = connection;
    this.id = id;
    this.policy = policy || 'lww';
    this._askedPolicy = policy;
    this.rev = 0;
    this.text = ''; // the server's text at `rev` with our unacked edits on top
    this.synced = false; // joined, and the snapshot of this join has arrived
    this.closed = false;
    this._shadow = ''; // the server's text at `rev`
    this._inflight = null; // {op, seq, count}: sent, not acked
    this._buffer = null; // {op, count}: typed since, composed
    this._participants = new Map();
    this._presence = null; // our {cursor, anchor, sent}, sent again after a rejoin
    this._timer = null; // a rejoin or resend waiting out a refusal
    this._delay = 0;
    this._history = new UndoHistory({ groupMs: undoGroupMs });
    this._threads = new CommentThreads(); // the server's at `rev`
  }

  get hasUnsyncedChanges() {
    return this._inflight !== null || this._buffer !== null;
  }

  /** Local edits (edit() calls) the server has not acknowledged. */
  get unsyncedChanges() {
    return (this._inflight ? this._inflight.count : 0) + (this._buffer ? this._buffer.count : 0);
  }

  /** The other participants, with cursors in code points (null until they move). */
  get participants() {
    return [...this._participants.values()];
  }

  // -- comments (comments.js, comments-api.js) --

  /** The comment threads in document order, ranges in code points of `text`. */
  get comments() {
    return this._threads.view([this._inflight?.op, this._buffer?.op]);
  }

  /** Opens a thread on [start, end) of `text`; resolves with {rev, thread} once the server has it. */
  addComment(start, end, text, options) {
    return addComment(this, start, end, text, options);
  }

  replyToComment(thread, text) {
    return threadRequest(this, thread, 'replies', text);
  }

  resolveComment(thread) {
    return threadRequest(this, thread, 'resolve');
  }

  reopenComment(thread) {
    return threadRequest(this, thread, 'reopen');
  }

  /** Deletes a thread (its author or the document's owner may). */
  deleteComment(thread) {
    return threadRequest(this, thread, 'delete');
  }

  // -- editing --

  /**
   * Applies a local edit: an Op or wire components over `text`, positions
   * in code points. Throws a RangeError when it spans more than `text`.
   */
  edit(ops) {
    this._local(ops, 'edit');
  }

  /**
   * Undoes this client's last edit (edits typed within `undoGroupMs` of
   * each other are one step), wherever others' edits have moved its text
   * since; never anyone else's. False when there is nothing to undo.
   */
  undo() {
    return this._step('undo');
  }

  /** Redoes the last undo; false when there is nothing to redo. */
  redo() {
    return this._step('redo');
  }

  get canUndo() {
    return this._history.canUndo;
  }

  get canRedo() {
    return this._history.canRedo;
  }

  _step(origin) {
    if (this.closed) throw new Error(`document ${this.id} is closed`);
    for (let op = this._history.take(origin); op; op = this._history.take(origin)) {
      if (op.isNoop()) continue;
      this._local(op, origin);
      return true;
    }
    return false;
  }

  _local(ops, origin) {
    if (this.closed) throw new Error(`document ${this.id} is closed`);
    const given = ops instanceof Op ? ops : Op.fromWire(ops);
    if (given.inputLength() > cpLength(this.text))
      throw new RangeError(`the edit spans ${given.inputLength()} code points; the text has ${cpLength(this.text)}`);
    // Erased text is kept so that a refused edit can be undone.
    const op = withRemovedText(this.text, given);
    if (op.isNoop()) return;
    this.text = apply(this.text, op);
    for (const p of this._participants.values()) movePeer(p, op);
    if (this._presence) movePeer(this._presence, op);
    if (this._inflight) {
      this._buffer = this._buffer ? { op: compose(this._buffer.op, op), count: this._buffer.count + 1 } : { op, count: 1 };
    } else {
      this._inflight = { op, seq: this.connection._nextSeq(), count: 1 };
      this._sendInflight();
    }
    this._history.record(op, origin);
    this.emit('change', { local: true, origin, op, ops: op.toWire(true), rev: this.rev });
    this._commentsMoved();
    this._unsynced();
  }

  insert(position, text) {
    this.edit(new Op().retain(position).insert(text));
  }

  delete(position, count) {
    this.edit(new Op().retain(position).erase(count));
  }

  /** Replaces the whole text, as one edit of what differs. */
  setText(text) {
    this.edit(diffOp(this.text, text));
  }

  /**
   * Our cursor (and the other end of the selection), in code points of
   * `text`. Sent once the server has every edit of ours: until then the
   * position would count text others do not have yet (presence can overtake
   * the edit), and they move our cursor with our edits themselves.
   */
  setPresence(cursor, anchor = cursor) {
    this._presence = { cursor, anchor, sent: false };
    this._flushPresence();
  }

  /** Leaves the document. Unsynced edits are given up, unless persisted (the next open resends them). */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this._timer);
    this.connection._send({ leave: { docId: this.id } });
    this.connection._forget(this);
    this.synced = false;
    this.removeAllListeners();
  }

  // -- from the connection --

  _join({ full = false } = {}) {
    if (this.closed || this._restoring) return; // persistence.js joins once the record is read
    clearTimeout(this._timer);
    this._timer = null;
    this.synced = false;
    const join = { docId: this.id, knownRev: full ? 0 : this.rev };
    if (this._askedPolicy) join.policy = this._askedPolicy;
    this.connection._send({ join });
  }

  _detached() {
    this.synced = false;
    clearTimeout(this._timer);
    this._timer = null;
  }

  _handle(m) {
    if (m.snapshot) return this._onSnapshot(m.snapshot);
    if (m.conflict) this._history.clear(); // see _onSnapshot
    // Anything before this join's snapshot belongs to the join before it,
    // and the snapshot's replay covers it.
    if (!this.synced) return;
    if (m.ack) return this._onAck(m.ack);
    if (m.applied) return this._onApplied(m.applied);
    if (m.conflict) return this.emit('conflict', { ...m.conflict, clientSeq: Number(m.conflict.clientSeq), rev: Number(m.conflict.rev) });
    if (m.presence) return this._onPresence(m.presence);
  }

  _onSnapshot(s) {
    // A later edit that took back part of ours (a conflict) makes our undo
    // step for it put that text back twice. Conflicts missed while away
    // are not replayed, so a join again starts a fresh history.
    if (this._joinedOnce) this._history.clear();
    this._joinedOnce = true;
    this.policy = s.policy || this.policy;
    const rev = Number(s.rev || 0);
    if (s.resumed) {
      // The missed revisions follow as applied and ack.
      this.rev = rev;
    } else {
      // The whole text: what differs from ours came before our pending
      // edits. The difference is one coarse replacement, so it merges with
      // them: under lww it would undo any of ours that it spans.
      const text = s.text || '';
      const diff = diffOp(this._shadow, text);
      this.rev = rev;
      this._shadow = text;
      this._threads.assign(s.comments);
      this._incoming(diff, 'merge');
      this.emit('comments', { threads: this.comments, action: null });
    }
    this.synced = true;
    this._delay = 0;
    this._participants.clear();
    for (const p of s.participants || []) {
      if (this._isMe(p)) continue;
      const name = peerName(p);
      this._participants.set(name, { id: name, name, clientId: p.clientId, user: p.user || null, cursor: null, anchor: null });
    }
    this.emit('presence', { participants: this.participants });
    // Sent again under its own sequence number: the server applies it once.
    if (this._inflight) this._sendInflight();
    if (this._presence) this._presence.sent = false;
    this._flushPresence();
    this.emit('synced', { rev: this.rev });
  }

  _onAck(a) {
    if (!this._inflight || Number(a.clientSeq) !== this._inflight.seq) return; // a duplicate
    const rev = Number(a.rev);
    if (rev <= this.rev) {
      // Applied before a snapshot that carried it in its text: our copy of it
      // on top is one too many.
      this._dropInflight();
      return;
    }
    this._shadow = apply(this._shadow, this._inflight.op);
    this._threads.move(this._inflight.op);
    this.rev = rev;
    this._inflight = null;
    this._delay = 0;
    this._next();
  }

  _onApplied(a) {
    const rev = Number(a.rev);
    if (rev <= this.rev) return;
    if (rev !== this.rev + 1) return this._join(); // a gap: resume from this.rev
    const op = Op.fromWire(a.ops);
    this._shadow = apply(this._shadow, op);
    this._threads.move(op);
    this.rev = rev;
    if (a.comment) {
      const action = this._threads.apply(a.comment, rev, a.userId, a.ts);
      this.emit('comments', { threads: this.comments, action });
    }
    this._incoming(op);
  }

  _onPresence(p) {
    if (this._isMe(p)) return;
    const name = peerName(p);
    // A roster change (a join) carries no cursor: a known one stays.
    const known = this._participants.get(name);
    const cursor = p.cursor ?? known?.cursor ?? null;
    const anchor = p.cursor !== undefined ? p.anchor ?? p.cursor : known?.anchor ?? null;
    if (p.left) this._participants.delete(name);
    else this._participants.set(name, { id: name, name, clientId: p.clientId, user: p.user || null, cursor, anchor });
    this.emit('presence', { participants: this.participants });
  }

  _onError(e) {
    const mine = this._inflight !== null && e.clientSeq === this._inflight.seq;
    switch (e.code) {
      case 'rev_too_old':
      case 'bad_rev':
        return this._join({ full: true }); // rebase on the whole text
      case 'fenced':
      case 'not_joined':
        // The document moved to another node, or the session lost it: join
        // again; the unacked edit goes out after the snapshot.
        this.synced = false;
        return this._later(() => this._join());
      case 'storage_unavailable':
      case 'rate_limited':
      case 'overloaded':
      case 'out_of_order':
        // Not applied, try again later: a join not answered yet, or our
        // edit in flight (the only one we have out, so the first refused).
        if (!this.synced) return this._later(() => this._join());
        if (mine || e.code === 'out_of_order') return this._later(() => this._inflight && this._sendInflight());
        break;
      default:
        if (mine && FINAL.has(e.code)) {
          this._dropInflight();
          if (e.code === 'out_of_range') this._join({ full: true }); // we disagree on the text: resync
        }
    }
    this.emit('error', e);
  }

  // -- internals --

  _sendInflight() {
    const { op, seq } = this._inflight;
    // With persistence, stored before sent (persistence.js).
    if (this._recorder && !this._recorder.holds(seq)) return this._recorder.sendWhenStored();
    if (this.synced)
      this.connection._send({ edit: { docId: this.id, baseRev: this.rev, clientSeq: seq, clientTs: Date.now(), ops: op.toWire() } });
  }

  // After a refusal: 250 ms, doubling to 8 s, reset by an ack or a snapshot.
  _later(fn) {
    if (this._timer) return;
    this._delay = Math.min(8000, this._delay ? this._delay * 2 : 250);
    this._timer = setTimeout(() => {
      this._timer = null;
      if (!this.closed && this.connection.isConnected) fn();
    }, this._delay);
  }

  _next() {
    if (this._buffer) {
      this._inflight = { ...this._buffer, seq: this.connection._nextSeq() };
      this._buffer = null;
      this._sendInflight();
    }
    this._unsynced();
  }

  _unsynced() {
    this._flushPresence();
    this.emit('unsyncedChanges', { count: this.unsyncedChanges });
  }

  _flushPresence() {
    const p = this._presence;
    if (!p || p.sent || !this.synced || this.hasUnsyncedChanges) return;
    p.sent = this.connection._send({ presence: { docId: this.id, cursor: p.cursor, anchor: p.anchor } });
  }

  // An edit serialised before everything we have pending: transform both
  // ways, as the server does, and show it.
  _incoming(op, policy = this.policy) {
    if (this._inflight) {
      const t = transform(op, this._inflight.op, policy);
      this._inflight.op = t.later;
      op = t.earlier;
    }
    if (this._buffer) {
      const t = transform(op, this._buffer.op, policy);
      this._buffer.op = t.later;
      op = t.earlier;
    }
    this._showRemote(op);
  }

  // The edit in flight will never apply (refused, or already in the
  // text): undo it on our text and rebase what was typed after it.
  _dropInflight() {
    // Its undo step would now undo the undoing (put text back twice).
    this._history.clear();
    let undo = invert(this._inflight.op);
    this._inflight = null;
    if (this._buffer) {
      const t = transform(undo, this._buffer.op, 'merge');
      this._buffer.op = t.later;
      undo = t.earlier;
    }
    this._showRemote(undo);
    this._next();
  }

  _showRemote(op) {
    if (op.isNoop()) return;
    this.text = apply(this.text, op);
    this._history.rebase(op);
    for (const p of this._participants.values()) movePeer(p, op);
    if (this._presence) movePeer(this._presence, op);
    this.emit('change', { local: false, origin: 'remote', op, ops: op.toWire(true), rev: this.rev });
    this._commentsMoved();
    if (this._participants.size) this.emit('presence', { participants: this.participants });
  }

  // After a change of `text`: the threads' ranges moved with it.
  _commentsMoved() {
    if (this._threads.size) this.emit('comments', { threads: this.comments, action: null });
  }

  // The server names participants by user and client id; a client id
  // alone is the client's choice and can be copied.
  _isMe(p) {
    return p.clientId === this.connection.shownId && (p.user || '') === (this.connection.username || '');
  }
}

function movePeer(p, op) {
  if (p.cursor !== null) p.cursor = transformPosition(p.cursor, op);
  if (p.anchor !== null) p.anchor = transformPosition(p.anchor, op);
}
