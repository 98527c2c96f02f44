// Browser tabs in one Node process, for TabConnection's tests: a Web Locks
// manager shared by the tabs (navigator.locks' request with a signal), and
// per tab its BroadcastChannels and its view of one shared storage, so that
// a tab can crash: its locks freed, its channels closed, its writes never
// landing, its sockets closed, as when the browser kills a tab.
import { MemoryStorage, TabConnection } from '../src/index.js';

const abortError = () => Object.assign(new Error('the request was aborted'), { name: 'AbortError' });

export class LockManager {
  constructor() {
    this._held = new Map(); // name -> request
    this._waiting = new Map(); // name -> [request]
  }

  _request(tab, name, options, callback) {
    if (typeof options === 'function') [callback, options] = [options, {}];
    return new Promise((resolve, reject) => {
      if (tab.gone) return; // a dead tab's request never comes back
      const req = { tab, name, callback, resolve, reject };
      const signal = options?.signal;
      if (signal?.aborted) return reject(abortError());
      signal?.addEventListener('abort', () => {
        const q = this._waiting.get(name) || [];
        if (q.includes(req)) {
          q.splice(q.indexOf(req), 1);
          reject(abortError());
        }
      });
      if (!this._waiting.has(name)) this._waiting.set(name, []);
      this._waiting.get(name).push(req);
      this._next(name);
    });
  }

  _next(name) {
    if (this._held.has(name)) return;
    const req = this._waiting.get(name)?.shift();
    if (!req) return;
    this._held.set(name, req);
    req.tab.held.add(req);
    Promise.resolve().then(() => req.callback({ name, mode: 'exclusive' }))
      .then(req.resolve, req.reject).finally(() => this._free(req));
  }

  _free(req) {
    if (this._held.get(req.name) !== req) return;
    this._held.delete(req.name);
    req.tab.held.delete(req);
    this._next(req.name);
  }

  _kill(tab) {
    tab.gone = true;
    for (const q of this._waiting.values()) for (const req of [...q]) if (req.tab === tab) q.splice(q.indexOf(req), 1);
    for (const req of [...tab.held]) this._free(req);
  }
}

/** Tabs of one browser: shared locks and storage (`storage`). */
export class FakeBrowser {
  constructor() {
    this.locks = new LockManager();
    this.storage = new MemoryStorage();
    this.tabs = [];
  }

  /** A tab with a TabConnection (`tab.tabs`) made with `options` plus this browser's locks, channels and storage. */
  tab(options) {
    const state = { gone: false, held: new Set(), channels: new Set(), sockets: new Set() };
    const locks = { request: (name, o, cb) => this.locks._request(state, name, o, cb) };
    class TabChannel extends BroadcastChannel {
      constructor(name) {
        super(name);
        state.channels.add(this);
      }
    }
    const shared = this.storage;
    const storage = {
      get: (key) => (state.gone ? new Promise(() => {}) : shared.get(key)),
      put: (key, value) => (state.gone ? new Promise(() => {}) : shared.put(key, value)),
      update: (key, fn) => (state.gone ? new Promise(() => {}) : shared.update(key, fn)),
    };
    const Base = options.WebSocketPolyfill;
    class TabSocket extends Base {
      constructor(url) {
        super(url);
        state.sockets.add(this);
      }
    }
    const tabs = new TabConnection({ ...options, locks, BroadcastChannel: TabChannel, storage, WebSocketPolyfill: TabSocket });
    const tab = {
      tabs,
      /** The WebSockets this tab opened. */
      sockets: state.sockets,
      crash: () => {
        this.locks._kill(state);
        for (const c of state.channels) c.close();
        for (const s of state.sockets) s.close();
        // Its timers would reconnect: a dead tab runs nothing.
        tabs._conn?.disconnect();
        for (const e of tabs._entries.values()) e.link.disconnect();
      },
    };
    this.tabs.push(tab);
    return tab;
  }
}

/**
 * A one-document server for FakeSocket connections of one user: hello,
 * join (resumed when knownRev is its rev, else the whole text), edits
 * deduplicated by (client id, clientSeq) as the real server does, acked.
 * Edits must be based on its rev (one writer at a time).
 */
export class MiniServer {
  constructor(docId, text = '', rev = 1) {
    Object.assign(this, { docId, text, rev, seqs: new Map(), applied: [] });
  }

  /** Answers everything `ws` sent so far; call again after more. */
  serve(ws, apply) {
    if (ws.readyState === 0) ws.accept();
    for (const m of ws.sent.splice(0)) {
      if (m.hello) {
        ws.clientId = m.hello.clientId;
        ws.deliver({ welcome: { clientId: ws.clientId, username: 'alice' } });
      } else if (m.join) {
        const resumed = Number(m.join.knownRev) === this.rev;
        ws.deliver({ snapshot: resumed ? { docId: this.docId, rev: String(this.rev), resumed: true }
          : { docId: this.docId, rev: String(this.rev), text: this.text, policy: 'merge' } });
      } else if (m.edit) {
        const { clientSeq, baseRev, ops } = m.edit;
        const last = this.seqs.get(ws.clientId) || { seq: 0, rev: 0 };
        if (clientSeq <= last.seq) {
          ws.deliver({ ack: { docId: this.docId, clientSeq: String(clientSeq), rev: String(clientSeq === last.seq ? last.rev : 0) } });
          continue;
        }
        if (baseRev !== this.rev) throw new Error(`edit based on ${baseRev}, server at ${this.rev}`);
        this.text = apply(this.text, ops);
        this.rev++;
        this.applied.push({ clientId: ws.clientId, clientSeq, ops });
        this.seqs.set(ws.clientId, { seq: clientSeq, rev: this.rev });
        ws.deliver({ ack: { docId: this.docId, clientSeq: String(clientSeq), rev: String(this.rev) } });
      }
    }
  }
}
