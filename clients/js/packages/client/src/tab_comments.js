// Comment threads through the tab hub (tab_hub.js). The hub's snapshot
// carries the real document's threads in the real document's text (which
// is the hub's), and a revision of the server that changed them becomes a
// hub revision with no ops and the action (`applied.comment`), so a tab's
// handle keeps its threads as a handle on the server does. A tab's comment
// requests go to the hub (`tabComment`), which makes them on the real
// document (comments-api.js: REST with the leader's token) and answers
// with `tabCommentResult`.
import { Op } from './ot.js';
import { cpLength } from './unicode.js';
import { moveRange } from './comments.js';

// -- in the hub --

/** The real document's threads in wire form, ranges in its text. */
export function threadsOf(doc) {
  return (doc.comments || []).map((t) => ({ id: t.id, start: t.start, end: t.end, detached: t.detached, resolved: t.resolved,
    entries: t.entries.map((e) => ({ rev: e.rev, userId: e.userId, user: e.user || undefined, text: e.text, ts: e.ts })) }));
}

// What a full snapshot of the server may have changed besides ranges.
const shapeOf = (doc) => JSON.stringify((doc.comments || []).map((t) => [t.id, t.resolved, t.entries.length]));

/** Relays the real document's comment revisions to the tabs of `hub`. */
export function relayComments(hub) {
  const d = hub.doc;
  let shape = shapeOf(d);
  d.on('comments', ({ action }) => {
    if (!action) return;
    const t = (d.comments || []).find((x) => x.id === action.thread);
    const comment = { kind: action.kind, thread: action.thread, user: action.user || undefined, text: action.text || undefined };
    if (action.kind === 'open' && t) Object.assign(comment, { start: t.start, end: t.end });
    hub.revision(new Op(), { comment, userId: action.userId, ts: t?.entries[t.entries.length - 1]?.ts });
    shape = shapeOf(d);
  });
  // A whole text from the server replaces the threads too, with the
  // actions missed meanwhile untold: the tabs take a whole snapshot again.
  d.on('synced', () => {
    if (shapeOf(d) === shape) return;
    shape = shapeOf(d);
    hub.resync();
  });
}

/** Answers a tab's `tabComment` request `c` (from tabComment below) with `reply(body)`. */
export async function hubComment(hub, c, reply) {
  const d = hub.doc;
  try {
    let r;
    if (c.kind === 'open') {
      // The range counts the tab's text at hub revision c.rev: moved here.
      let range = { start: Number(c.start), end: Number(c.end), detached: false };
      for (const op of hub.opsSince(Number(c.rev))) range = moveRange(range, op);
      if (range.detached) throw Object.assign(new Error('the text to comment on was deleted'), { code: 'detached' });
      r = await d.addComment(range.start, range.end, c.text);
    } else if (c.kind === 'replies') r = await d.replyToComment(c.thread, c.text);
    else if (c.kind === 'resolve') r = await d.resolveComment(c.thread);
    else if (c.kind === 'reopen') r = await d.reopenComment(c.thread);
    else if (c.kind === 'delete') r = await d.deleteComment(c.thread);
    else throw Object.assign(new Error(`no comment request ${c.kind}`), { code: 'invalid_argument' });
    reply({ result: r });
  } catch (err) {
    reply({ error: { code: err?.code || 'failed', message: String(err?.message || err), status: err?.status } });
  }
}

// -- in a tab's handle (tabs.js TabDocument) --

/** Asks the hub for comment request `body`; resolves or rejects with its answer. */
export function askHub(doc, body) {
  doc._calls ??= new Map();
  const call = (doc._lastCall = (doc._lastCall || 0) + 1);
  return new Promise((resolve, reject) => {
    doc._calls.set(call, { resolve, reject });
    if (!doc.connection._send({ tabComment: { docId: doc.id, call, ...body } })) {
      doc._calls.delete(call);
      reject(Object.assign(new Error('not linked to the tab holding the document'), { code: 'not_joined' }));
    }
  });
}

/** The hub's answer `a` to call a.call. */
export function answered(doc, a) {
  const pending = doc._calls?.get(a.call);
  if (!pending) return;
  doc._calls.delete(a.call);
  if (a.error) pending.reject(Object.assign(new Error(a.error.message), { code: a.error.code, status: a.error.status }));
  else pending.resolve(a.result);
}

/** The link went: unanswered calls fail (the hub that had them is gone or going). */
export function dropCalls(doc) {
  for (const { reject } of doc._calls?.values() || [])
    reject(Object.assign(new Error('the tab holding the document changed; try again'), { code: 'hub_changed' }));
  doc._calls?.clear();
}

/**
 * StetDocument.addComment for a tab's handle: once the hub has every edit
 * of this tab (the text is then the hub's at `rev`), the range goes to the
 * hub with that revision; until then it moves with the text.
 */
export function tabComment(doc, start, end, text, { timeoutMs = 15000 } = {}) {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start < end && end <= cpLength(doc.text)))
    return Promise.reject(new RangeError(`a comment needs 0 <= start < end <= ${cpLength(doc.text)}; got [${start}, ${end})`));
  return new Promise((resolve, reject) => {
    let range = { start, end, detached: false };
    const fail = (code, message) => reject(Object.assign(new Error(message), { code }));
    const onChange = ({ op }) => {
      range = moveRange(range, op);
      check();
    };
    const stop = () => {
      clearTimeout(timer);
      doc.off('change', onChange).off('unsyncedChanges', check).off('synced', check);
    };
    function check() {
      if (doc.closed) return stop(), fail('closed', `document ${doc.id} is closed`);
      if (range.detached) return stop(), fail('detached', 'the text to comment on was deleted');
      if (!doc.synced || doc._inflight || doc._buffer) return;
      stop();
      askHub(doc, { kind: 'open', rev: doc.rev, start: range.start, end: range.end, text }).then(resolve, reject);
    }
    const timer = setTimeout(() => {
      stop();
      fail('timeout', `document ${doc.id} was not in sync with the tab holding it within ${timeoutMs} ms`);
    }, timeoutMs);
    doc.on('change', onChange).on('unsyncedChanges', check).on('synced', check);
    check();
  });
}
