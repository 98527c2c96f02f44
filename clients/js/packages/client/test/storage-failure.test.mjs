// Storage that fails while a document is open (a full quota): the stale
// record is deleted, so a later page does not bring back typing the server
// has since had, and a connection that takes a document over numbers its
// edits above whatever a tab with failing storage may have sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, StetConnection } from '../src/index.js';
import { apply, Op } from '../src/ot.js';
import { FakeSocket, tick, sleep } from './fake_server.mjs';
import { MiniServer } from './fake_tabs.mjs';

const settle = async () => {
  for (let i = 0; i < 8; i++) await tick();
};
const applyOps = (text, ops) => apply(text, Op.fromWire(ops));

async function connect(storage) {
  const before = FakeSocket.all.length;
  const conn = new StetConnection({ url: 'ws://fake/ws', token: 'tok', clientId: 'c1', WebSocketPolyfill: FakeSocket,
    minDelay: 5, maxDelay: 20, persistence: { storage, user: 'alice' } });
  await settle();
  return { conn, ws: FakeSocket.all[before] };
}

test('a record left when storage failed is not replayed: typing the server had applies once', async () => {
  FakeSocket.all = [];
  const storage = new MemoryStorage();
  const server = new MiniServer('d1', 'abc', 3);
  const a = await connect(storage);
  const doc = a.conn.open('d1');
  for (let i = 0; i < 4; i++) {
    server.serve(a.ws, applyOps);
    await settle();
  }
  assert.equal(doc.text, 'abc');
  doc.insert(3, 'X'); // sent, its ack held back below
  await settle();
  const sentX = a.ws.sent.splice(0);
  doc.insert(4, 'Y'); // buffered: stored with X
  await doc._recorder.flush();
  const errors = [];
  doc.on('error', (e) => errors.push(e.code));
  const put = storage.put;
  storage.put = async () => {
    throw new Error('QuotaExceededError');
  };
  a.ws.sent.push(...sentX);
  for (let i = 0; i < 3; i++) {
    server.serve(a.ws, applyOps);
    await settle();
  }
  assert.equal(server.text, 'abcXY');
  assert.deepEqual(errors, ['storage_failed']);
  a.conn.destroy();
  await sleep(20);
  storage.put = put; // room again
  const b = await connect(storage);
  server.serve(b.ws, applyOps);
  await settle();
  const again = b.conn.open('d1');
  for (let i = 0; i < 6; i++) {
    await settle();
    server.serve(b.ws, applyOps);
  }
  assert.equal(server.text, 'abcXY');
  assert.equal(again.text, 'abcXY');
});

test('a connection taking a document over numbers above what a tab with failing storage sent', async () => {
  FakeSocket.all = [];
  const storage = new MemoryStorage();
  const server = new MiniServer('A', 'abc', 3);
  const older = await connect(storage); // its counter starts first
  await sleep(50);
  const newer = await connect(storage);
  const put = storage.put.bind(storage);
  storage.put = async (key, value) => {
    if (key[3] === 'A' && value.inflight) throw new Error('QuotaExceededError');
    return put(key, value);
  };
  const mine = newer.conn.open('A');
  for (let i = 0; i < 4; i++) {
    server.serve(newer.ws, applyOps);
    await settle();
  }
  mine.insert(3, 'Y');
  for (let i = 0; i < 4; i++) {
    server.serve(newer.ws, applyOps);
    await settle();
  }
  assert.equal(server.text, 'abcY');
  newer.conn.destroy();
  const theirs = older.conn.open('A');
  for (let i = 0; i < 4; i++) {
    server.serve(older.ws, applyOps);
    await settle();
  }
  theirs.insert(4, 'X');
  for (let i = 0; i < 4; i++) {
    server.serve(older.ws, applyOps);
    await settle();
  }
  assert.equal(server.text, 'abcYX');
});
