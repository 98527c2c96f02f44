// Unacknowledged edits kept in storage, so that typing outlives the page:
// a document's record holds the server's revision and text it is based on
// and the edits on top (the one in flight with its clientSeq, the ones
// typed since), and the connection's client id is stored beside them. A
// connection opened later on the same storage says hello with that client
// id, restores the record before it joins, and resends the edit in flight
// under its old clientSeq: the server deduplicates by (user, client id,
// clientSeq), so an edit that got through before the page went is acked,
// never applied twice.
//
// Write-ahead: an edit is sent only once a record holding it is stored, so
// a record never lacks a clientSeq the server may have, and the next
// clientSeq is always above every stored one (`maxSeq`). A record whose
// edits are all acknowledged shrinks to {clientId, maxSeq} and stays.
import { Op, apply, compose, transform } from './ot.js';

const VERSION = 1;

const clone = (value) => (value === undefined || value === null ? null : JSON.parse(JSON.stringify(value)));
const keyOf = (key) => JSON.stringify(key);

/** Records in memory (Node, tests): the same contract as IndexedDbStorage, gone with the process. */
export class MemoryStorage {
  constructor() {
    this._data = new Map();
  }

  async get(key) {
    return clone(this._data.get(keyOf(key)));
  }

  async put(key, value) {
    this._data.set(keyOf(key), clone(value));
  }

  async delete(key) {
    this._data.delete(keyOf(key));
  }

  /** Stores `fn(current or null)` and resolves with it, with no other write in between. */
  async update(key, fn) {
    const value = fn(clone(this._data.get(keyOf(key))));
    this._data.set(keyOf(key), clone(value));
    return clone(value);
  }
}

/**
 * Records in the browser's IndexedDB (database `name`, one object store),
 * kept across reloads and browser restarts. Each write is one transaction,
 * committed at once; `update` reads and writes in one transaction, so two
 * tabs never both create a value.
 */
export class IndexedDbStorage {
  constructor({ name = 'stet', indexedDB = globalThis.indexedDB } = {}) {
    this.name = name;
    this._idb = indexedDB;
    this._db = null;
  }

  get(key) {
    return this._run('readonly', (store, done) => {
      const r = store.get(key);
      r.onsuccess = () => done(r.result ?? null);
    });
  }

  put(key, value) {
    return this._run('readwrite', (store, done, commit) => {
      store.put(value, key);
      commit();
    });
  }

  delete(key) {
    return this._run('readwrite', (store, done, commit) => {
      store.delete(key);
      commit();
    });
  }

  update(key, fn) {
    return this._run('readwrite', (store, done, commit) => {
      const r = store.get(key);
      r.onsuccess = () => {
        const value = fn(r.result ?? null);
        store.put(value, key);
        done(value);
        commit();
      };
    });
  }

  _open() {
    this._db ??= new Promise((resolve, reject) => {
      if (!this._idb) return reject(new Error('no IndexedDB here'));
      const req = this._idb.open(this.name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore('records');
      req.onsuccess = () => {
        const db = req.result;
        // Another tab upgrading the schema asks us to let go.
        db.onversionchange = () => {
          db.close();
          this._db = null;
        };
        resolve(db);
      };
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error(`IndexedDB ${this.name} is blocked by another tab`));
    });
    return this._db.catch((err) => {
      this._db = null;
      throw err;
    });
  }

  async _run(mode, fn) {
    const db = await this._open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction('records', mode);
      let result;
      tx.oncomplete = () => resolve(result);
      tx.onerror = tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
      // `commit` after the last write: committed now rather than when the
      // event loop gets to it, so a page closing right after a keystroke
      // has one step less to survive.
      fn(tx.objectStore('records'), (value) => { result = value; }, () => tx.commit?.());
    });
  }
}

/**
 * The persistence of one StetConnection (its `persistence` option): the
 * client id stored per (url, user), and a DocumentRecorder per open
 * document. `user` must name the user the connection's token signs in:
 * records are that user's.
 */
export class ConnectionStore {
  constructor(connection, { storage, user = '' }) {
    if (!storage) throw new TypeError('persistence needs a storage (IndexedDbStorage, MemoryStorage)');
    this.connection = connection;
    this.storage = storage;
    this.user = user;
    // The first connection of this user on this storage keeps its id for
    // every later one; hello waits for it.
    this.ready = storage.update(['client', connection.url, user], (v) => v || { clientId: connection.clientId })
      .then((v) => {
        connection.clientId = connection.shownId = v.clientId;
      }, (err) => this.failed(null, err));
  }

  /** Starts recording `doc`; it joins once its record is read and restored. */
  attach(doc) {
    doc._recorder = new DocumentRecorder(this, doc);
  }

  failed(doc, err) {
    const e = { code: 'storage_failed', message: `unsynced edits cannot be stored: ${err?.message || err}` };
    if (doc) doc.emit('error', { ...e, docId: doc.id });
    else this.connection.emit('error', e);
  }
}

/**
 * Keeps one document's record in step with it: saved whenever its unsynced
 * state changes, one write at a time (what changes during a write goes in
 * the next one), so there is no timer to outlive and nothing to save when
 * the page goes. Saves are numbered: `mark()` names the save that will
 * hold the document as it is now, `isStored(n)` says whether it is done.
 */
export class DocumentRecorder {
  constructor(store, doc) {
    this.store = store;
    this.doc = doc;
    this.key = ['doc', store.connection.url, store.user, doc.id];
    this.maxSeq = 0;
    this.views = null; // the tab hub's part of the record, as read (tab_hub.js)
    this.extra = null; // () => more fields for the record (tab_hub.js)
    this._taken = 0; // saves begun
    this._stored = 0; // saves done
    this._storedSeq = 0; // the highest clientSeq a stored record holds
    this._dirty = false;
    this._saving = false;
    this._failed = false;
    this._last = null; // the record last written, as JSON
    this._sending = false;
    this._saved = new Set(); // called after every save
    doc._restoring = true;
    const changed = () => this._schedule();
    doc.on('change', changed).on('unsyncedChanges', changed).on('synced', changed);
    this.loaded = this._load();
  }

  /** Whether edit `seq` may be sent: a stored record holds it. */
  holds(seq) {
    return this._failed || seq <= this._storedSeq;
  }

  /** Sends the edit in flight once a record holding it is stored. */
  sendWhenStored() {
    if (this._sending) return;
    this._sending = true;
    const n = this.mark();
    const sent = () => {
      if (!this.isStored(n)) return;
      this._saved.delete(sent);
      this._sending = false;
      if (!this.doc.closed && this.doc._inflight) this.doc._sendInflight();
    };
    this._saved.add(sent);
  }

  /** The number of the save that will hold the document as it is now (one is scheduled). */
  mark() {
    this._schedule();
    return this._taken + 1;
  }

  isStored(n) {
    return this._failed || this._stored >= n;
  }

  /** `fn()` after every save. */
  onSaved(fn) {
    this._saved.add(fn);
  }

  /** Resolves once the document as it is now is stored (at once if storage failed). */
  flush() {
    const n = this.mark();
    return new Promise((resolve) => {
      const done = () => {
        if (!this.isStored(n)) return;
        this._saved.delete(done);
        resolve();
      };
      this._saved.add(done);
      done();
    });
  }

  async _load() {
    const doc = this.doc;
    try {
      await this.store.ready;
      const rec = await this.store.storage.get(this.key);
      // Numbers above the clock as well as the stored ones: a tab whose
      // storage failed numbered its edits from its own start and stored
      // none of them (and deleted its record); the clock passes any count
      // of edits typed since.
      doc.connection._seq = Math.max(doc.connection._seq, Date.now());
      if (rec && rec.v === VERSION) this._restore(rec);
    } catch (err) {
      this._fail(err, { keep: true }); // unread, it resends nothing this time: kept for the next
    }
    doc._restoring = false;
    if (this._dirty) this._schedule();
    if (!doc.closed && doc.connection.isConnected) doc._join();
  }

  _restore(rec) {
    const doc = this.doc, conn = doc.connection;
    // Written under another client id (the storage was changed under us):
    // resent under ours it could apply twice, and overwritten it would lose
    // its typing, so it is left alone and this document goes unstored.
    if (rec.clientId !== conn.clientId)
      return this._fail(new Error('the stored record belongs to another client id'), { keep: true });
    this.maxSeq = rec.maxSeq || 0;
    this._storedSeq = this.maxSeq;
    conn._seq = Math.max(conn._seq, this.maxSeq);
    this.views = rec.views || null;
    // An edit typed before the record was read took a number that may be
    // stored already (it was never sent: the join waits for this).
    if (doc._inflight && doc._inflight.seq <= this.maxSeq) doc._inflight.seq = conn._nextSeq();
    if (!rec.inflight) return;
    const inflight = { op: Op.fromWire(rec.inflight.ops), seq: rec.inflight.seq, count: rec.inflight.count };
    let buffer = rec.buffer && { op: Op.fromWire(rec.buffer.ops), count: rec.buffer.count };
    let text = apply(rec.shadow, inflight.op);
    if (buffer) text = apply(text, buffer.op);
    // What was typed before the record was read (over the empty text of
    // rev 0) goes after the stored edits.
    let shown = new Op().insert(text);
    const local = doc._inflight && doc._buffer ? compose(doc._inflight.op, doc._buffer.op) : (doc._inflight || doc._buffer)?.op;
    if (local) {
      const t = transform(shown, local, 'merge');
      shown = t.earlier;
      const count = doc.unsyncedChanges;
      buffer = buffer ? { op: compose(buffer.op, t.later), count: buffer.count + count } : { op: t.later, count };
    }
    doc.rev = rec.rev;
    doc._shadow = rec.shadow;
    doc.policy = rec.policy || doc.policy;
    doc._inflight = inflight;
    doc._buffer = buffer;
    doc._showRemote(shown);
    doc._unsynced();
  }

  _record() {
    const doc = this.doc;
    if (doc._inflight) this.maxSeq = Math.max(this.maxSeq, doc._inflight.seq);
    const rec = { v: VERSION, clientId: doc.connection.clientId, maxSeq: this.maxSeq, ...(this.extra?.() || {}) };
    if (doc._inflight || doc._buffer) {
      Object.assign(rec, {
        rev: doc.rev,
        policy: doc.policy,
        shadow: doc._shadow,
        inflight: doc._inflight && { ops: doc._inflight.op.toWire(true), seq: doc._inflight.seq, count: doc._inflight.count },
        buffer: doc._buffer && { ops: doc._buffer.op.toWire(true), count: doc._buffer.count },
      });
    }
    return rec;
  }

  // A save in a microtask: everything the current task changes goes into
  // one write.
  _schedule() {
    this._dirty = true;
    if (this._saving || this._failed || this.doc._restoring) return;
    this._saving = true;
    queueMicrotask(() => this._loop());
  }

  async _loop() {
    while (this._dirty && !this._failed) {
      this._dirty = false;
      const n = ++this._taken;
      const rec = this._record();
      const json = JSON.stringify(rec);
      if (json !== this._last) {
        try {
          await this.store.storage.put(this.key, rec);
          this._last = json;
        } catch (err) {
          this._fail(err);
        }
      }
      this._storedSeq = Math.max(this._storedSeq, rec.maxSeq);
      this._stored = n;
      this._notify();
    }
    this._saving = false;
  }

  _notify() {
    for (const fn of [...this._saved]) fn();
  }

  // Storage that fails is given up: the document goes on as without
  // persistence (edits are sent unstored) and says so once. The record is
  // deleted if it can be (unless `keep`: it is not ours): left behind, it
  // would bring back typing the server has since had, to be applied again.
  _fail(err, { keep = false } = {}) {
    if (this._failed) return;
    this._failed = true;
    if (!keep) this.store.storage.delete?.(this.key).catch(() => {});
    this.store.failed(this.doc, err);
    this._notify();
  }
}
