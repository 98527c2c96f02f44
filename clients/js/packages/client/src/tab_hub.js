// The tab hub of one document: in the tab holding the document's Web
// Lock (tabs.js), a small stet server for the document's handles in every
// tab of this browser, its own included, in front of the one StetDocument
// that speaks to the real server. It speaks the stet protocol to them
// (welcome, snapshot, ack, applied, presence, conflict, error) with
// revisions of its own: every change of the real document's text (a tab's
// edit, someone else's, a refused edit undone) is one hub revision. A
// tab's edit is transformed past the hub revisions after its base with
// the server's rules (ot.js) and applied to the real document as a local
// edit, which sends it on.
//
// Handing over: the real document's record (persistence.js) also holds,
// per tab client id, the last clientSeq the hub applied. A message to
// another tab leaves only once a record with the state it tells of is
// stored, so no tab hears of an edit that a successor hub, restoring the
// record, would not know: a tab's resend to the successor is acked if the
// record has it and applied if not. The hub's own tab hears at once: it
// goes down with the hub.
import { Op, transform, transformPosition, withRemovedText } from './ot.js';
import { randomId } from './tab_link.js';
import { hubComment, relayComments, threadsOf } from './tab_comments.js';

const LOG = 1000; // hub revisions kept for edits based on older ones
const REMEMBERED = 64; // tab client ids remembered for deduplication

export class TabHub {
  /**
   * `doc`: the real document, opened on a connection with persistence (its
   * record is read before the hub answers anyone). `name`: the document's
   * BroadcastChannel. `user`: the name tabs are welcomed with.
   */
  constructor({ doc, name, BroadcastChannel, user }) {
    this.doc = doc;
    this.name = name;
    this.user = user;
    this.id = randomId('h-');
    this.rev = 0;
    this.ready = false; // the real document has a text to show: joined, or restored
    this.started = false;
    this.stopped = false;
    this._BC = BroadcastChannel;
    this._bc = null;
    this._log = []; // ops of revisions rev - log.length + 1 .. rev
    this._views = new Map(); // socket id -> {id, socket, clientId, synced, queue}
    this._seen = new Map(); // tab client id -> {seq, at}: the last edit applied
    this._text = '';
    this._integrating = null; // {view, seq, acked}: the tab edit being applied
    this._peers = new Map(); // the participants last told of
    this._status = null; // the last server status told
    this._retryIn = undefined;
    this._onConnection = (s) => {
      this._retryIn = s.retryIn;
      this._tellStatus();
    };
  }

  /** Reads the record, then announces the hub; resolves once it answers. */
  start() {
    this._starting ??= this._start();
    return this._starting;
  }

  async _start() {
    const d = this.doc, rec = d._recorder;
    await rec.loaded;
    for (const [clientId, [seq, at]] of Object.entries(rec.views || {})) this._seen.set(clientId, { seq, at });
    rec.extra = () => ({ views: this._remembered() });
    if (this.stopped) return;
    rec.onSaved(() => this._release());
    this._text = d.text;
    this.ready = d.synced || d.hasUnsyncedChanges;
    d.on('change', (e) => this._onChange(e));
    d.on('synced', () => this._onSynced());
    d.on('presence', () => this._onPresence());
    d.on('conflict', (c) => this._all({ conflict: { ...c, docId: d.id, clientSeq: 0 } }));
    d.on('error', (e) => this._all({ error: { code: e.code, message: e.message, docId: d.id } }));
    d.on('unsyncedChanges', () => this._tellStatus());
    d.connection.on('status', this._onConnection);
    relayComments(this);
    this._bc = new this._BC(this.name);
    this._bc.onmessage = (e) => this._onChannel(e.data);
    this.started = true;
    this._post({ t: 'hub', hub: this.id });
    this._tellStatus();
  }

  /**
   * Hands over: leaves the real document, stores its record, tells every
   * tab what was stored and says goodbye. The caller releases the lock
   * once this resolves, and the next tab's hub restores the record.
   */
  stop() {
    this._stopping ??= this._stop();
    return this._stopping;
  }

  async _stop() {
    this.stopped = true;
    await this._starting;
    const d = this.doc, rec = d._recorder;
    d.connection.off('status', this._onConnection);
    d.close(); // the record keeps what the server has not acknowledged
    await rec.flush();
    this._release();
    for (const v of this._views.values()) {
      if (v.socket) v.socket.end();
      else this._post({ t: 'bye', to: v.id, hub: this.id });
    }
    this._views.clear();
    this._bc?.close();
  }

  // -- links (tab_link.js) --

  /** A tab's socket linked: `socket` for this tab's LocalSocket, null for a ChannelSocket. */
  attach(id, socket = null) {
    if (!this._views.has(id)) this._views.set(id, { id, socket, clientId: id, synced: false, queue: [] });
    if (socket && this._status) socket.onStatus?.(this._status);
  }

  detach(id) {
    this._views.delete(id);
  }

  /** Frames from socket `id`: protocol messages, one a line. */
  receive(id, data) {
    const v = this._views.get(id);
    if (!v || this.stopped) return;
    for (const line of String(data).split('\n')) {
      if (!line) continue;
      try {
        this._handle(v, JSON.parse(line));
      } catch (err) {
        this._send(v, { error: { code: 'bad_message', message: String(err?.message || err), docId: this.doc.id } });
      }
    }
  }

  _onChannel(m) {
    if (!m || this.stopped) return;
    if (m.t === 'open') {
      this.attach(m.from);
      this._post({ t: 'opened', to: m.from, hub: this.id });
      if (this._status) this._post({ t: 'status', hub: this.id, status: this._status });
    } else if (m.hub === this.id) {
      if (m.t === 'data') this.receive(m.from, m.data);
      else if (m.t === 'close') this.detach(m.from);
    }
  }

  // -- the protocol, as a server --

  _handle(v, m) {
    const docId = this.doc.id;
    if (m.hello) {
      v.clientId = String(m.hello.clientId || v.id);
      return this._send(v, { welcome: { clientId: v.clientId, username: this.user } });
    }
    if (m.ping) return this._send(v, { pong: {} });
    if (m.join) {
      v.synced = false;
      v.joined = true;
      return this._snapshot(v);
    }
    if (m.leave) {
      v.synced = v.joined = false;
      return;
    }
    if (m.presence) {
      // The cursor of the tab that moved last is this browser's cursor.
      if (v.synced) this.doc.setPresence(Number(m.presence.cursor), Number(m.presence.anchor ?? m.presence.cursor));
      return;
    }
    if (m.edit) return this._edit(v, m.edit);
    if (m.tabComment) return hubComment(this, m.tabComment, (body) => this._send(v, { tabCommentResult: { docId, call: m.tabComment.call, ...body } }));
    this._send(v, { error: { code: 'unknown_message', message: 'not a message a tab hub relays', docId } });
  }

  // Always the whole text: revision numbers mean nothing across hubs.
  _snapshot(v) {
    if (!this.ready || !v.joined || v.synced) return;
    v.synced = true;
    const d = this.doc;
    const people = d.participants;
    this._send(v, { snapshot: { docId: d.id, rev: this.rev, text: d.text, policy: d.policy,
      participants: people.map((p) => ({ clientId: p.clientId, user: p.user || undefined })), comments: threadsOf(d) } });
    for (const p of people)
      if (p.cursor !== null) this._send(v, { presence: { docId: d.id, clientId: p.clientId, user: p.user || undefined, cursor: p.cursor, anchor: p.anchor ?? p.cursor } });
  }

  _edit(v, e) {
    const d = this.doc, seq = Number(e.clientSeq);
    const refuse = (code, message) => this._send(v, { error: { code, message, docId: d.id, clientSeq: seq } });
    if (!v.synced) return refuse('not_joined', `join document ${d.id} first`);
    const seen = this._seen.get(v.clientId);
    if (seen && seq <= seen.seq) return this._send(v, { ack: { docId: d.id, clientSeq: seq, rev: 0 } });
    const base = Number(e.baseRev);
    if (base > this.rev) return refuse('bad_rev', `baseRev ${base} is ahead of the tab hub (rev ${this.rev})`);
    if (base < this.rev - this._log.length) return refuse('rev_too_old', `baseRev ${base} is older than the tab hub keeps`);
    let op = Op.fromWire(e.ops);
    for (const earlier of this.opsSince(base)) op = transform(earlier, op, d.policy).later;
    const by = { view: v, seq, acked: false };
    this._integrating = by;
    try {
      d.edit(op);
    } catch (err) {
      return refuse('out_of_range', String(err?.message || err));
    } finally {
      this._integrating = null;
    }
    this._seen.set(v.clientId, { seq, at: Date.now() });
    // Nothing of it was left after the transform: no revision to name.
    if (!by.acked) this._send(v, { ack: { docId: d.id, clientSeq: seq, rev: this.rev } });
  }

  // -- from the real document --

  _onChange(e) {
    const op = withRemovedText(this._text, e.op);
    this._text = this.doc.text;
    // Cursors move with the text, as each tab moves its copies.
    for (const p of this._peers.values()) {
      if (p.cursor !== null) p.cursor = transformPosition(p.cursor, op);
      if (p.anchor !== null) p.anchor = transformPosition(p.anchor, op);
    }
    this.revision(op);
    this._tellStatus();
  }

  /** A new hub revision: `op` over the text before it, `extra` fields for `applied`; acked to the tab whose edit it is. */
  revision(op, extra = {}) {
    this.rev++;
    this._log.push(op);
    if (this._log.length > LOG) this._log.shift();
    const docId = this.doc.id, by = this._integrating;
    const applied = { applied: { docId, rev: this.rev, ops: op.toWire(true), ...extra } };
    for (const v of this._views.values()) {
      if (!v.synced) continue;
      if (by?.view === v) {
        by.acked = true;
        this._send(v, { ack: { docId, clientSeq: by.seq, rev: this.rev } });
      } else {
        this._send(v, applied);
      }
    }
  }

  /** The ops of the hub revisions after `rev`; throws when the log no longer has them. */
  opsSince(rev) {
    const first = this.rev - this._log.length;
    if (rev < first || rev > this.rev)
      throw Object.assign(new Error(`revision ${rev} is not one the tab hub keeps`), { code: 'rev_too_old' });
    return this._log.slice(rev - first);
  }

  /** Every tab takes a whole snapshot again (what changed cannot be told as revisions). */
  resync() {
    for (const v of this._views.values()) {
      if (!v.synced) continue;
      v.synced = false;
      this._send(v, { error: { code: 'rev_too_old', message: 'the document changed under the tab hub; join again', docId: this.doc.id } });
    }
  }

  _onSynced() {
    if (!this.ready) {
      this.ready = true;
      for (const v of this._views.values()) this._snapshot(v);
    }
    this._tellStatus();
  }

  _onPresence() {
    const d = this.doc, docId = d.id;
    const now = new Map(d.participants.map((p) => [p.id, p]));
    for (const [id, p] of this._peers)
      if (!now.has(id)) this._all({ presence: { docId, clientId: p.clientId, user: p.user || undefined, left: true } });
    for (const [id, p] of now) {
      const old = this._peers.get(id);
      if (old && old.cursor === p.cursor && old.anchor === p.anchor) continue;
      const m = { docId, clientId: p.clientId, user: p.user || undefined };
      if (p.cursor !== null) Object.assign(m, { cursor: p.cursor, anchor: p.anchor ?? p.cursor });
      this._all({ presence: m });
    }
    this._peers = new Map([...now].map(([id, p]) => [id, { ...p }]));
  }

  // The real document's server status, for every tab's `server`.
  _tellStatus() {
    if (!this.started || this.stopped) return;
    const d = this.doc, status = d.connection.status;
    const s = { status, rev: d.rev, unsyncedChanges: d.unsyncedChanges, synced: d.synced };
    if (status === 'disconnected' && this._retryIn !== undefined) s.retryIn = this._retryIn;
    if (this._status && JSON.stringify(s) === JSON.stringify(this._status)) return;
    this._status = s;
    this._post({ t: 'status', hub: this.id, status: s });
    for (const v of this._views.values()) v.socket?.onStatus?.(s);
  }

  // -- sending --

  _all(msg) {
    for (const v of this._views.values()) if (v.synced) this._send(v, msg);
  }

  _send(v, msg) {
    const line = JSON.stringify(msg);
    if (v.socket) return v.socket.deliver(line);
    v.queue.push({ save: this.doc._recorder.mark(), line });
  }

  // After a save: each tab gets, in order, what that save made safe to tell.
  _release() {
    const rec = this.doc._recorder;
    for (const v of this._views.values()) {
      let n = 0;
      while (n < v.queue.length && rec.isStored(v.queue[n].save)) n++;
      if (n) this._post({ t: 'data', to: v.id, hub: this.id, data: v.queue.splice(0, n).map((q) => q.line).join('\n') });
    }
  }

  _remembered() {
    const recent = [...this._seen].sort((a, b) => b[1].at - a[1].at).slice(0, REMEMBERED);
    return Object.fromEntries(recent.map(([clientId, { seq, at }]) => [clientId, [seq, at]]));
  }

  _post(m) {
    try {
      this._bc?.postMessage(m);
    } catch {} // closed: the hub is stopping
  }
}
