// The REST calls that change a document's comment threads. They go to the
// node the connection speaks to (its url with http for ws, https for wss,
// and the path's last /ws taken off), with the connection's token; their
// effect comes back over the WebSocket as an `applied` revision like any
// other, to this client too.
import { cpLength } from './unicode.js';
import { moveRange } from './comments.js';

/** The HTTP address of the API beside WebSocket address `url`. */
export function apiBase(url) {
  const u = new URL(url);
  const protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  return `${protocol}//${u.host}${u.pathname.replace(/\/ws\/?$/, '')}`.replace(/\/$/, '');
}

/**
 * Sends `body` to the document's comments resource `path` ('' or
 * '/{thread}/...'). Resolves with the JSON answer; rejects with an Error
 * carrying the server's `code` and the HTTP `status`.
 */
export async function commentRequest(doc, method, path, body) {
  const { token } = doc.connection;
  const t = typeof token === 'function' ? await token() : token;
  const headers = { 'Content-Type': 'application/json' };
  if (t) headers.Authorization = `Bearer ${t}`;
  const url = `${apiBase(doc.connection.url)}/api/documents/${encodeURIComponent(doc.id)}/comments${path}`;
  const r = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined });
  let data = null;
  try {
    data = await r.json();
  } catch {} // an empty or non-JSON answer: the status says enough
  if (!r.ok) {
    const err = new Error(data?.error?.message || `${method} comments: HTTP ${r.status}`);
    err.code = data?.error?.code || `http_${r.status}`;
    err.status = r.status;
    throw err;
  }
  return data || {};
}

function failure(code, message) {
  return Object.assign(new Error(message), { code });
}

/**
 * Opens a thread on [start, end) of `doc.text` (code points). The server
 * needs the range in its own text at a revision it knows, so the request
 * waits until the server has every local edit (the text is then the
 * server's at `doc.rev`), moving the range with whatever changes the text
 * meanwhile. Rejects when the range is empty or outside the text, when its
 * text is deleted while waiting, the document is closed, or after
 * `timeoutMs` without a moment in sync.
 */
export function addComment(doc, start, end, text, { timeoutMs = 15000 } = {}) {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start < end && end <= cpLength(doc.text)))
    return Promise.reject(new RangeError(`a comment needs 0 <= start < end <= ${cpLength(doc.text)}; got [${start}, ${end})`));
  return new Promise((resolve, reject) => {
    let range = { start, end, detached: false };
    let timer = null;
    const onChange = ({ op }) => {
      range = moveRange(range, op);
      if (range.detached) check();
    };
    const stop = () => {
      clearTimeout(timer);
      doc.off('change', onChange).off('unsyncedChanges', check).off('synced', check);
    };
    function check() {
      if (doc.closed) return stop(), reject(failure('closed', `document ${doc.id} is closed`));
      if (range.detached) return stop(), reject(failure('detached', 'the text to comment on was deleted'));
      if (!doc.synced || doc.hasUnsyncedChanges) return;
      // The range and the revision, taken together.
      const body = { start: range.start, end: range.end, text, baseRev: doc.rev };
      stop();
      commentRequest(doc, 'POST', '', body).then((r) => resolve({
        rev: Number(r.rev),
        thread: Number(r.thread !== null && typeof r.thread === 'object' ? r.thread.id : r.thread ?? r.rev),
      }), reject);
    }
    doc.on('change', onChange).on('unsyncedChanges', check).on('synced', check);
    timer = setTimeout(() => {
      stop();
      reject(failure('timeout', `document ${doc.id} was not in sync with the server within ${timeoutMs} ms`));
    }, timeoutMs);
    check();
  });
}

/** The other changes to thread `thread`: 'replies' (with text), 'resolve', 'reopen', or delete. */
export async function threadRequest(doc, thread, what, text) {
  const path = `/${encodeURIComponent(String(thread))}`;
  const r = what === 'delete' ? await commentRequest(doc, 'DELETE', path)
    : await commentRequest(doc, 'POST', `${path}/${what}`, what === 'replies' ? { text } : {});
  return { rev: Number(r.rev) };
}
