// One WebSocket to a stet node, shared by every document the application
// opens on it: hello with a token (fetched again on every reconnect and when
// the server says it expired), reconnect with backoff (1 s, 2 s, 4 s ...
// 30 s, with jitter), batched frames, and each message handed to its
// document.
import { Emitter } from './emitter.js';
import { StetDocument } from './document.js';
import { ConnectionStore } from './persistence.js';

const OPEN = 1; // WebSocket.OPEN, which polyfills do not all put on instances

// Refusals of a hello that a later hello may get past.
const RETRY_HELLO = new Set(['storage_unavailable', 'overloaded', 'rate_limited']);

function randomId() {
  return 'c-' + Math.random().toString(36).slice(2, 10) + Math.random().toString(36).slice(2, 6);
}

export class StetConnection extends Emitter {
  /**
   * `url`: the node's WebSocket address (ws://host/ws). `token`: a string,
   * or a function (may be async) asked for one before every hello. Connects
   * right after the constructor unless `connect: false`.
   */
  constructor(options) {
    super();
    const { url, token = null, clientId, WebSocketPolyfill, minDelay = 1000, maxDelay = 30000, connect = true, persistence } =
      options || {};
    if (!url) throw new TypeError('StetConnection needs a url');
    this.url = url;
    this.token = token;
    // Deduplication keys by (user, clientId, clientSeq): a client id reused
    // by another connection must not restart its sequence numbers (below).
    this.clientId = clientId || randomId();
    this.shownId = this.clientId; // the server's name for us (welcome)
    this.username = '';
    this.status = 'disconnected';
    this.documents = new Map();
    this._WebSocket = WebSocketPolyfill || globalThis.WebSocket;
    if (!this._WebSocket) throw new TypeError('no WebSocket here: pass one as WebSocketPolyfill (the ws package in Node)');
    this._minDelay = minDelay;
    this._maxDelay = maxDelay;
    this._socket = null;
    this._welcomed = false;
    this._attempt = 0;
    this._retry = null;
    this._helloRetry = null;
    this._stopped = true;
    // Sequence numbers start at the clock, so a connection that reuses a
    // client id (a reload with a stored id) never sends a number the server
    // already holds and sees its edits taken for resends.
    this._seq = Date.now();
    // Unacked edits kept in storage (persistence.js): the client id is the
    // stored one, known before the first hello.
    this._persistence = persistence ? new ConnectionStore(this, persistence) : null;
    // In a microtask, so that listeners added right after the constructor
    // hear the first status too.
    if (connect) {
      this._stopped = false;
      queueMicrotask(() => {
        if (!this._stopped) this.connect();
      });
    }
  }

  /** Whether some open document has local edits the server has not acknowledged. */
  get hasUnsyncedChanges() {
    for (const doc of this.documents.values()) if (doc.hasUnsyncedChanges) return true;
    return false;
  }

  /** Whether the server welcomed this socket: documents can join. */
  get isConnected() {
    return this._welcomed && this._socket !== null && this._socket.readyState === OPEN;
  }

  /** Opens the socket (again) after `disconnect` or `connect: false`. */
  connect() {
    this._stopped = false;
    if (!this._socket && !this._retry) this._open();
  }

  /** Closes the socket and stays closed; documents stay open and resume on `connect`. */
  disconnect() {
    this._stopped = true;
    clearTimeout(this._retry);
    this._retry = null;
    const ws = this._socket;
    this._lost();
    if (ws) ws.close();
    this._setStatus('disconnected');
  }

  /** Leaves every document and closes for good. Unsynced edits are lost, unless persisted. */
  destroy() {
    for (const doc of [...this.documents.values()]) doc.close();
    this.disconnect();
    this.removeAllListeners();
  }

  /**
   * The handle of document `docId`, joining it (the same handle when it is
   * open already). `policy` counts only when the join creates the document.
   */
  open(docId, options = {}) {
    let doc = this.documents.get(docId);
    if (doc) return doc;
    doc = new StetDocument(this, docId, options);
    this.documents.set(docId, doc);
    this._persistence?.attach(doc); // joins once its stored edits are back
    if (this.isConnected) doc._join();
    return doc;
  }

  // -- internals used by StetDocument --

  _nextSeq() {
    return ++this._seq;
  }

  _send(msg) {
    if (!this.isConnected) return false;
    this._socket.send(JSON.stringify(msg));
    return true;
  }

  _forget(doc) {
    if (this.documents.get(doc.id) === doc) this.documents.delete(doc.id);
  }

  // -- the socket --

  _setStatus(status, extra = {}) {
    if (status === this.status && extra.retryIn === undefined) return;
    this.status = status;
    this.emit('status', { status, ...extra });
  }

  _open() {
    this._setStatus('connecting');
    const ws = new this._WebSocket(this.url);
    this._socket = ws;
    this._welcomed = false;
    ws.onopen = () => this._hello(ws);
    ws.onmessage = (e) => {
      if (ws === this._socket) this._receive(e.data);
    };
    ws.onclose = () => {
      if (ws === this._socket) this._closed();
    };
    ws.onerror = () => {}; // a close follows; it decides what next
  }

  async _hello(ws) {
    clearTimeout(this._helloRetry);
    this._helloRetry = null;
    let token;
    try {
      await this._persistence?.ready;
      token = typeof this.token === 'function' ? await this.token() : this.token;
    } catch (err) {
      this.emit('error', { code: 'token_unavailable', message: String(err?.message || err) });
      if (ws === this._socket) ws.close(); // and try again after the backoff
      return;
    }
    if (ws !== this._socket || ws.readyState !== OPEN) return;
    ws.send(JSON.stringify({ hello: { clientId: this.clientId, token: token || undefined, batch: true } }));
  }

  // Documents stop sending until a welcome lets them join again.
  _lost() {
    this._socket = null;
    this._welcomed = false;
    clearTimeout(this._helloRetry);
    this._helloRetry = null;
    for (const doc of this.documents.values()) doc._detached();
  }

  _closed() {
    this._lost();
    if (this._stopped) return this._setStatus('disconnected');
    const step = Math.min(this._maxDelay, this._minDelay * 2 ** this._attempt++);
    const delay = step * (0.5 + Math.random() * 0.5); // jitter: 50-100 % of the step
    this._setStatus('disconnected', { retryIn: delay / 1000 });
    this._retry = setTimeout(() => {
      this._retry = null;
      if (!this._stopped) this._open();
    }, delay);
  }

  _receive(data) {
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
    // With hello.batch a frame holds one message per line.
    for (const line of text.split('\n')) {
      if (!line) continue;
      let m;
      try {
        m = JSON.parse(line);
      } catch {
        this.emit('error', { code: 'bad_message', message: 'the server sent a frame that is not JSON' });
        continue;
      }
      this._dispatch(m);
    }
  }

  _dispatch(m) {
    if (m.welcome) return this._onWelcome(m.welcome);
    if (m.pong) return;
    if (m.error) return this._onError(m.error);
    const body = Object.values(m)[0];
    const doc = body && this.documents.get(body.docId);
    if (doc) doc._handle(m);
  }

  _onWelcome(w) {
    this._welcomed = true;
    this._attempt = 0;
    this.shownId = w.clientId || this.clientId;
    this.username = w.username || '';
    const stored = this._persistence?.user;
    if (stored !== undefined && stored !== this.username) {
      // Stored edits are resent as their user's: under another, the server
      // would take them for new ones.
      this.emit('error', { code: 'wrong_user', message: `signed in as "${this.username}" but persistence is for "${stored}"` });
      return this.disconnect();
    }
    this._setStatus('connected');
    for (const doc of this.documents.values()) doc._join();
  }

  _onError(e) {
    const err = { ...e, clientSeq: e.clientSeq === undefined ? undefined : Number(e.clientSeq) };
    if (err.code === 'token_expired') {
      if (this._welcomed) return this._renewToken(err);
      // An edit sent before the expiry was refused: resent after the renewal.
      if (err.docId) return;
    }
    const doc = err.docId ? this.documents.get(err.docId) : null;
    if (doc) return doc._onError(err);
    if (!this._welcomed && this._socket) {
      // The hello was refused: say it again later, with a fresh token when
      // it was the token (a reconnect asks for one).
      if (RETRY_HELLO.has(err.code)) {
        const ws = this._socket;
        this._helloRetry = setTimeout(() => this._hello(ws), 1000);
      } else {
        this.emit('error', err);
        if (err.code === 'unauthorized' || err.code === 'token_expired') this._socket.close();
      }
      return;
    }
    this.emit('error', err);
  }

  // The server left every document of this session and waits for a hello
  // with a fresh token; the welcome that answers it joins them again, and
  // each resends what is unacknowledged, in order.
  _renewToken(err) {
    const ws = this._socket;
    this._welcomed = false;
    for (const doc of this.documents.values()) doc._detached();
    this._setStatus('connecting');
    if (typeof this.token !== 'function') this.emit('error', err);
    this._hello(ws);
  }
}
