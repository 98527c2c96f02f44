// What a tab's document speaks to the tab hub of its document through
// (tab_hub.js, tabs.js): objects with the WebSocket interface
// StetConnection uses, so the document is an ordinary StetDocument whose
// "server" is the hub. ChannelSocket reaches a hub in another tab over a
// BroadcastChannel; LocalSocket reaches the hub of its own tab directly.
//
// On the channel (one per document and user), every message is an object
// {t, ...}: a hub announces itself ('hub'); a socket asks for a hub
// ('open') and one answers ('opened', to the socket); 'data' carries
// protocol frames both ways, addressed by socket id and hub id; 'close'
// and 'bye' end a link; 'status' is the hub's server status for every
// socket linked to it.

export function randomId(prefix) {
  return prefix + Math.random().toString(36).slice(2, 10) + Math.random().toString(36).slice(2, 6);
}

const CONNECTING = 0, OPEN = 1, CLOSED = 3;

/** A link to the hub of another tab, over BroadcastChannel `name`. */
export class ChannelSocket {
  /** `onStatus(status)`: the hub's server status (tab_hub.js `_status`). */
  constructor(name, BroadcastChannelClass, onStatus) {
    this.readyState = CONNECTING;
    this.id = randomId('s-');
    this.hub = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this._onStatus = onStatus;
    this._bc = new BroadcastChannelClass(name);
    this._bc.onmessage = (e) => this._receive(e.data);
    this._post({ t: 'open', from: this.id });
  }

  send(data) {
    if (this.readyState === OPEN) this._post({ t: 'data', from: this.id, hub: this.hub, data });
  }

  close() {
    if (this.readyState === CLOSED) return;
    if (this.readyState === OPEN) this._post({ t: 'close', from: this.id, hub: this.hub });
    this._end();
  }

  _receive(m) {
    if (this.readyState === CLOSED || !m) return;
    if (m.t === 'hub') {
      // A hub came: ask it. A hub other than ours came: ours is gone (its
      // tab closed or crashed; the lock went to the announcer).
      if (this.readyState === CONNECTING) this._post({ t: 'open', from: this.id });
      else if (m.hub !== this.hub) this._end();
      return;
    }
    if (m.t === 'status') {
      if (this.readyState === OPEN && m.hub === this.hub) this._onStatus?.(m.status);
      return;
    }
    if (m.to !== this.id) return;
    if (m.t === 'opened' && this.readyState === CONNECTING) {
      this.hub = m.hub;
      this.readyState = OPEN;
      this.onopen?.({});
    } else if (m.hub === this.hub && this.readyState === OPEN) {
      if (m.t === 'data') this.onmessage?.({ data: m.data });
      else if (m.t === 'bye') this._end();
    }
  }

  _post(m) {
    try {
      this._bc.postMessage(m);
    } catch {} // closed under us: the close is on its way
  }

  _end() {
    this.readyState = CLOSED;
    this._bc.close();
    setTimeout(() => this.onclose?.({ code: 1006 }));
  }
}

/**
 * A link to the hub of this tab. Messages go in microtasks, so neither
 * side handles the other's message inside its own call, and a keystroke's
 * edit reaches the hub before the tab can go.
 */
export class LocalSocket {
  constructor(hub, onStatus) {
    this.readyState = CONNECTING;
    this.id = randomId('l-');
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this.onStatus = onStatus;
    this._hub = hub;
    queueMicrotask(() => {
      if (this.readyState !== CONNECTING) return;
      this.readyState = OPEN;
      hub.attach(this.id, this);
      this.onopen?.({});
    });
  }

  send(data) {
    if (this.readyState === OPEN) queueMicrotask(() => this._hub.receive(this.id, data));
  }

  close() {
    if (this.readyState === CLOSED) return;
    if (this.readyState === OPEN) this._hub.detach(this.id);
    this.end();
  }

  // -- from the hub --

  deliver(data) {
    queueMicrotask(() => {
      if (this.readyState === OPEN) this.onmessage?.({ data });
    });
  }

  end() {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    queueMicrotask(() => this.onclose?.({ code: 1000 }));
  }
}
