// A scripted server for the client's tests: a fake WebSocket the test
// speaks for, and a connection welcomed on it with one document joined.
import assert from 'node:assert/strict';
import { StetConnection } from '../src/index.js';

export const tick = () => new Promise((r) => setTimeout(r, 0));
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.all.push(this);
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code: 1006 }));
  }
  // -- the server's side --
  accept() {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(...messages) {
    this.onmessage?.({ data: messages.map((m) => JSON.stringify(m)).join('\n') });
  }
  take(kind) {
    const out = this.sent.filter((m) => kind in m).map((m) => m[kind]);
    this.sent = this.sent.filter((m) => !(kind in m));
    return out;
  }
}

// A connection on a fake socket, welcomed, with document d1 at `text`, rev 3.
export async function joined(text = 'abc', tokenFn = () => 'tok', docOptions = {}) {
  FakeSocket.all = [];
  const conn = new StetConnection({ url: 'ws://fake/ws', token: tokenFn, clientId: 'me', WebSocketPolyfill: FakeSocket, minDelay: 5, maxDelay: 20 });
  await tick();
  const ws = FakeSocket.all[0];
  ws.accept();
  await tick();
  const doc = conn.open('d1', docOptions);
  ws.deliver({ welcome: { clientId: 'me', username: 'alice' } });
  assert.deepEqual(ws.take('join'), [{ docId: 'd1', knownRev: 0 }]);
  ws.deliver({ snapshot: { docId: 'd1', rev: '3', text, policy: 'merge' } });
  return { conn, ws, doc };
}
