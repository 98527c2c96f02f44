// Comment threads anchored to ranges of the text, as the server keeps them:
// every edit moves every range with exactly the server's rule (moveRange),
// so a client that moves its copy of the threads with the revisions it
// receives holds the server's threads at its revision. What a page shows
// is that copy moved once more through the client's unacknowledged edits.
import { transformPosition } from './ot.js';

/**
 * Range {start, end, detached} after `op`, positions in code points. An
 * insert at the start goes before the range, one at the end after it, one
 * strictly inside extends it; when the range's last character is erased it
 * is detached (start == end, where it was) and follows edits as a cursor
 * does from then on, never taking text in again.
 */
export function moveRange(range, op) {
  if (range.detached) {
    const at = transformPosition(range.start, op);
    return { start: at, end: at, detached: true };
  }
  const start = transformPosition(range.start, op);
  const end = transformPosition(range.end, op, true);
  return end <= start ? { start, end: start, detached: true } : { start, end, detached: false };
}

const num = (v) => Number(v || 0);

// The time of a hybrid clock stamp (ms << 16 | counter), in ms.
function stampTime(ts) {
  try {
    return Number(BigInt(ts || 0) >> 16n);
  } catch {
    return Math.floor(Number(ts || 0) / 65536);
  }
}

function entryOf(e) {
  return Object.freeze({ rev: num(e.rev), userId: num(e.userId), user: e.user || null, text: e.text || '',
    ts: String(e.ts || 0), time: stampTime(e.ts) });
}

/** A thread of the wire (CommentThread in protobuf's JSON mapping) as the client keeps it: numbers, frozen. */
export function threadOf(t) {
  return Object.freeze({ id: num(t.id), start: num(t.start), end: num(t.end), detached: !!t.detached,
    resolved: !!t.resolved, entries: Object.freeze((t.entries || []).map(entryOf)) });
}

// Document order: by start, then the older thread first.
const byPlace = (a, b) => a.start - b.start || a.end - b.end || a.id - b.id;

/**
 * One document's threads in the server's positions at one revision. Threads
 * are immutable records: a change replaces the record, so a list handed out
 * before stays as it was.
 */
export class CommentThreads {
  constructor() {
    this._threads = new Map(); // id -> thread
    this._version = 0;
    this._cache = null;
  }

  get size() {
    return this._threads.size;
  }

  /** Replaces every thread with `threads` (a snapshot's, wire form). */
  assign(threads) {
    this._threads = new Map((threads || []).map((t) => [num(t.id), threadOf(t)]));
    this._version++;
  }

  /** Moves every range over `op`, an edit of the text the positions count. */
  move(op) {
    if (op.isNoop() || !this._threads.size) return;
    for (const [id, t] of this._threads) this._threads.set(id, Object.freeze({ ...t, ...moveRange(t, op) }));
    this._version++;
  }

  /**
   * Applies a CommentAction (wire form) that revision `rev` made, by user
   * `userId` at stamp `ts`. Actions on a thread this copy does not hold are
   * ignored (the server refuses those, so it cannot have applied one).
   * Returns the action as applied: {kind, thread, rev, userId, user, text}.
   */
  apply(action, rev, userId, ts) {
    const kind = action.kind || 'open';
    const id = kind === 'open' ? num(action.thread) || rev : num(action.thread);
    const entry = { rev, userId, user: action.user, text: action.text, ts };
    const t = this._threads.get(id);
    if (kind === 'open') {
      this._threads.set(id, threadOf({ id, start: action.start, end: action.end, entries: [entry] }));
    } else if (t && kind === 'reply') {
      this._threads.set(id, Object.freeze({ ...t, entries: Object.freeze([...t.entries, entryOf(entry)]) }));
    } else if (t && (kind === 'resolve' || kind === 'reopen')) {
      this._threads.set(id, Object.freeze({ ...t, resolved: kind === 'resolve' }));
    } else if (t && kind === 'delete') {
      this._threads.delete(id);
    }
    this._version++;
    return { kind, thread: id, rev, userId: num(userId), user: action.user || null, text: action.text || '' };
  }

  /**
   * The threads moved through `ops` (the edits not yet on the server's
   * text, oldest first; null entries skipped), in document order. The same
   * array while neither the threads nor the ops change.
   */
  view(ops) {
    const c = this._cache;
    if (c && c.version === this._version && c.ops.length === ops.length && c.ops.every((o, i) => o === ops[i]))
      return c.list;
    const list = [];
    for (const t of this._threads.values()) {
      let range = t;
      for (const op of ops) if (op) range = moveRange(range, op);
      list.push(range === t ? t : Object.freeze({ ...t, ...range }));
    }
    list.sort(byPlace);
    Object.freeze(list);
    this._cache = { version: this._version, ops: [...ops], list };
    return list;
  }
}
