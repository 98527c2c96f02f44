// The tabs of one browser sharing one connection per document, with the
// typing the server has not acknowledged kept in storage (IndexedDB).
// Every tab that opens a document asks for the document's Web Lock; the
// holder (the leader) opens it on a real StetConnection with persistence
// and runs its tab hub (tab_hub.js). The handle every tab gets, the
// leader's own included, is a TabDocument: an ordinary StetDocument whose
// connection speaks to the hub (tab_link.js). When the leader closes the
// document or its tab goes, the lock passes to another tab, which restores
// the record and becomes the hub; the other tabs' handles link to it and
// resend what it had not acknowledged, as after a reconnect.
import { Emitter } from './emitter.js';
import { StetConnection } from './connection.js';
import { StetDocument } from './document.js';
import { IndexedDbStorage } from './persistence.js';
import { TabHub } from './tab_hub.js';
import { answered, askHub, dropCalls, tabComment } from './tab_comments.js';
import { ChannelSocket, LocalSocket, randomId } from './tab_link.js';

/**
 * A document handle of TabConnection. `rev` and `synced` are about the
 * tab hub; `server` is the real document's state as the leader tab sees
 * it, and `hasUnsyncedChanges` / `unsyncedChanges` count what the server
 * has not acknowledged, in this tab or in the leader's.
 */
export class TabDocument extends StetDocument {
  constructor(tabs, connection, id, options) {
    super(connection, id, options);
    this.tabs = tabs;
    this.server = { status: 'connecting', rev: 0, unsyncedChanges: 0, synced: false };
  }

  /** Whether this tab holds the document's connection. */
  get isLeader() {
    return this.tabs._leads(this.id);
  }

  get hasUnsyncedChanges() {
    return super.hasUnsyncedChanges || this.server?.unsyncedChanges > 0;
  }

  get unsyncedChanges() {
    return super.unsyncedChanges + (this.server?.unsyncedChanges || 0);
  }

  /**
   * Leaves the document in this tab; if this tab leads it, another takes
   * over. Listeners go at once, but the handle leaves (and `closed` turns
   * true) only once a tab hub has what was typed here (DRAIN_MS at most):
   * a hub may be changing hands at that moment.
   */
  close() {
    if (this.closed || this._closing) return;
    this._closing = true;
    this.removeAllListeners();
    this.tabs._close(this.id);
  }

  _local(ops, origin) {
    if (this._closing) throw new Error(`document ${this.id} is closed`);
    return super._local(ops, origin);
  }

  // The real close, once drained (TabConnection._close).
  _leave() {
    super.close();
    dropCalls(this);
  }

  // Comment requests are made by the leader tab's real document
  // (tab_comments.js); the promises are as StetDocument's.

  addComment(start, end, text, options) {
    return tabComment(this, start, end, text, options);
  }

  replyToComment(thread, text) {
    return askHub(this, { kind: 'replies', thread, text });
  }

  resolveComment(thread) {
    return askHub(this, { kind: 'resolve', thread });
  }

  reopenComment(thread) {
    return askHub(this, { kind: 'reopen', thread });
  }

  deleteComment(thread) {
    return askHub(this, { kind: 'delete', thread });
  }

  _handle(m) {
    if (m.tabCommentResult) return answered(this, m.tabCommentResult);
    return super._handle(m);
  }

  _detached() {
    super._detached();
    dropCalls(this);
  }

  _onServer(s) {
    this.server = s;
    this.emit('server', s);
    this._unsynced();
    this.tabs._status(s);
  }
}

const DRAIN_MS = 10000;

// Resolves once `doc` has no edit of its own that a hub has not applied.
function drained(doc) {
  const pending = () => doc._inflight || doc._buffer;
  if (!pending()) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pending() && Date.now() < end) return;
      clearTimeout(timer);
      doc.off('unsyncedChanges', done);
      resolve();
    };
    const end = Date.now() + DRAIN_MS;
    const timer = setTimeout(done, DRAIN_MS);
    doc.on('unsyncedChanges', done);
  });
}

export class TabConnection extends Emitter {
  /** Whether `env` (globalThis) has what TabConnection needs: Web Locks, BroadcastChannel and IndexedDB. */
  static supported(env = globalThis) {
    return !!(env.navigator?.locks && env.BroadcastChannel && env.indexedDB);
  }

  /**
   * `url`, `token`, `clientId` (kept for good as the stored client id when
   * none is stored yet), `WebSocketPolyfill`, `minDelay`, `maxDelay`: as for
   * StetConnection. `user`: the name the token signs in, which keys the
   * stored records. `storage`: an IndexedDbStorage unless given.
   * `locks`, `BroadcastChannel`: the browser's unless given.
   */
  constructor(options) {
    super();
    const { url, token = null, user = '', clientId, storage, WebSocketPolyfill, minDelay, maxDelay,
      locks = globalThis.navigator?.locks, BroadcastChannel = globalThis.BroadcastChannel } = options || {};
    if (!url) throw new TypeError('TabConnection needs a url');
    if (!locks || !BroadcastChannel) throw new TypeError('TabConnection needs Web Locks and BroadcastChannel');
    this.url = url;
    this.token = token;
    this.user = user;
    this.storage = storage || new IndexedDbStorage();
    this.status = 'connecting';
    this._locks = locks;
    this._BC = BroadcastChannel;
    this._options = { clientId, WebSocketPolyfill, minDelay, maxDelay };
    this._entries = new Map(); // docId -> {id, name, doc, link, hub, abort, release, done, closed}
    this._conn = null;
  }

  /** The real connection while this tab leads a document, else null. */
  get connection() {
    return this._conn;
  }

  get documents() {
    return new Map([...this._entries].map(([id, e]) => [id, e.doc]));
  }

  /**
   * Typing of this tab that no tab hub has yet: lost if the tab goes now
   * (what a hub has is stored, or is being stored within milliseconds).
   */
  get hasUnstoredChanges() {
    for (const e of this._entries.values()) if (e.doc._inflight || e.doc._buffer) return true;
    return false;
  }

  get hasUnsyncedChanges() {
    for (const e of this._entries.values()) if (e.doc.hasUnsyncedChanges) return true;
    return false;
  }

  /** The handle of `docId` in this tab (the same one while it is open). */
  open(docId, options = {}) {
    const known = this._entries.get(docId);
    if (known) return known.doc;
    const entry = { id: docId, name: `stet:${JSON.stringify([this.url, this.user, docId])}`, options, hub: null,
      abort: new AbortController(), release: null, done: null, closed: false };
    const tabs = this;
    const onStatus = (s) => entry.doc._onServer(s);
    // Asked for a socket on every (re)connect: the own tab's hub directly,
    // else whichever tab's hub answers on the channel.
    function TabSocket() {
      const hub = entry.hub;
      return hub?.started && !hub.stopped ? new LocalSocket(hub, onStatus) : new ChannelSocket(entry.name, tabs._BC, onStatus);
    }
    // A fresh client id per handle: the hub deduplicates by it, and a
    // handle opened again must not reuse the numbers of the one before.
    // Reconnects at once: the link's window of unhanded typing is short.
    entry.link = new StetConnection({ url: entry.name, clientId: randomId('t-'), WebSocketPolyfill: TabSocket,
      minDelay: 1, maxDelay: 100 });
    entry.doc = new TabDocument(this, entry.link, docId, { undoGroupMs: options.undoGroupMs });
    entry.link.documents.set(docId, entry.doc);
    this._entries.set(docId, entry);
    this._locks.request(entry.name, { signal: entry.abort.signal }, () => this._lead(entry)).catch((err) => {
      if (err?.name !== 'AbortError') this.emit('error', { code: 'tab_hub_failed', message: String(err?.message || err), docId });
    });
    return entry.doc;
  }

  /** Closes every document (resolves once each hub handed over) and stops. */
  destroy() {
    const done = [...this._entries.values()].map((e) => {
      e.doc.close();
      return e.done;
    });
    this.removeAllListeners();
    return Promise.all(done).then(() => {});
  }

  // -- leading --

  // The lock is ours until this resolves: the hub runs until the document
  // is closed in this tab (or the tab goes, which frees the lock by itself).
  async _lead(entry) {
    if (entry.closed) return;
    const doc = this._connect().open(entry.id, { policy: entry.options.policy });
    const hub = (entry.hub = new TabHub({ doc, name: entry.name, BroadcastChannel: this._BC, user: this.user }));
    await hub.start();
    if (!entry.closed) {
      // This tab's handle links to its own hub from now on, directly.
      entry.link._socket?.close();
      await new Promise((resolve) => { entry.release = resolve; });
    }
    await entry.done;
  }

  // The lock request stays until the handle is drained: if the leader tab
  // goes meanwhile, this one may have to run the hub that takes its edits.
  _close(docId) {
    const entry = this._entries.get(docId);
    if (!entry) return;
    this._entries.delete(docId);
    entry.done = (async () => {
      await drained(entry.doc);
      entry.closed = true;
      entry.abort.abort();
      entry.doc._leave();
      entry.link.destroy();
      if (entry.hub) await entry.hub.stop();
      if (this._conn && this._conn.documents.size === 0) {
        this._conn.destroy();
        this._conn = null;
      }
      entry.release?.();
    })();
  }

  _connect() {
    if (!this._conn) {
      this._conn = new StetConnection({
        ...this._options,
        url: this.url,
        token: () => (typeof this.token === 'function' ? this.token() : this.token),
        persistence: { storage: this.storage, user: this.user },
      });
      this._conn.on('error', (e) => this.emit('error', e));
    }
    return this._conn;
  }

  _leads(docId) {
    const hub = this._entries.get(docId)?.hub;
    return !!hub?.started && !hub.stopped;
  }

  // The status of the leader's connection, as the handles hear it.
  _status({ status, retryIn }) {
    if (status === this.status && retryIn === undefined) return;
    this.status = status;
    this.emit('status', retryIn === undefined ? { status } : { status, retryIn });
  }
}
