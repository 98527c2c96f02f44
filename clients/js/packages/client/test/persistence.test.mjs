// Persistence (src/persistence.js) against the scripted server: unacked
// edits survive the connection that typed them and are resent by the next
// one under the same client id and clientSeq; an edit is sent only once a
// record holding it is stored; numbering continues above every stored
// clientSeq; failing storage costs persistence, never an edit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, StetConnection } from '../src/index.js';
import { FakeSocket, tick } from './fake_server.mjs';

const settle = async () => {
  for (let i = 0; i < 5; i++) await tick();
};

// A connection persisting to `storage` as alice, welcomed on a fake socket.
async function connect(storage, clientId) {
  FakeSocket.all = [];
  const conn = new StetConnection({ url: 'ws://fake/ws', token: 'tok', clientId, WebSocketPolyfill: FakeSocket,
    minDelay: 5, maxDelay: 20, persistence: { storage, user: 'alice' } });
  await tick();
  const ws = FakeSocket.all[0];
  ws.accept();
  await settle();
  const [hello] = ws.take('hello');
  ws.deliver({ welcome: { clientId: hello.clientId, username: 'alice' } });
  return { conn, ws, hello };
}

const record = (storage, docId = 'd1') => storage.get(['doc', 'ws://fake/ws', 'alice', docId]);

test('unacked edits come back in the next connection and are resent under the same client id and clientSeq', async () => {
  const storage = new MemoryStorage();
  const first = await connect(storage, 'first');
  assert.equal(first.hello.clientId, 'first');
  const doc = first.conn.open('d1');
  await settle();
  assert.deepEqual(first.ws.take('join'), [{ docId: 'd1', knownRev: 0 }]);
  first.ws.deliver({ snapshot: { docId: 'd1', rev: '3', text: 'abc', policy: 'merge' } });
  doc.insert(3, 'X');
  await settle();
  const [sent] = first.ws.take('edit');
  assert.deepEqual(sent.ops, [{ retain: 3 }, { insert: 'X' }]);
  doc.insert(4, 'Y'); // waits for the ack, in the buffer
  await doc._recorder.flush();
  first.conn.destroy(); // the page goes

  const second = await connect(storage, 'second');
  assert.equal(second.hello.clientId, 'first', 'the stored client id');
  const again = second.conn.open('d1');
  await settle();
  assert.equal(again.text, 'abcXY', 'shown before the server answers');
  assert.equal(again.unsyncedChanges, 2);
  assert.deepEqual(second.ws.take('join'), [{ docId: 'd1', knownRev: 3 }]);
  second.ws.deliver({ snapshot: { docId: 'd1', rev: '3', resumed: true, policy: 'merge' } });
  await settle();
  const [resent] = second.ws.take('edit');
  assert.equal(resent.clientSeq, sent.clientSeq);
  assert.equal(resent.baseRev, 3);
  assert.deepEqual(resent.ops, sent.ops);
  second.ws.deliver({ ack: { docId: 'd1', clientSeq: String(sent.clientSeq), rev: '4' } });
  await settle();
  const [next] = second.ws.take('edit');
  assert.ok(next.clientSeq > sent.clientSeq);
  assert.deepEqual(next.ops, [{ retain: 4 }, { insert: 'Y' }]);
  second.ws.deliver({ ack: { docId: 'd1', clientSeq: String(next.clientSeq), rev: '5' } });
  await again._recorder.flush();
  assert.equal(again.hasUnsyncedChanges, false);
  assert.deepEqual(await record(storage), { v: 1, clientId: 'first', maxSeq: next.clientSeq },
    'all acknowledged: only the client id and the numbering stay');
  second.conn.destroy();
});

test('an edit is sent only once a record holding it is stored', async () => {
  const storage = new MemoryStorage();
  const put = storage.put.bind(storage);
  let release = null;
  storage.put = (key, value) => (value.inflight ? new Promise((r) => { release = r; }).then(() => put(key, value)) : put(key, value));
  const { conn, ws } = await connect(storage, 'c');
  const doc = conn.open('d1');
  await settle();
  ws.deliver({ snapshot: { docId: 'd1', rev: '1', text: '' } });
  doc.insert(0, 'a');
  await settle();
  assert.deepEqual(ws.take('edit'), [], 'not before the write');
  assert.ok(release, 'a write began');
  release();
  await settle();
  const [edit] = ws.take('edit');
  assert.deepEqual(edit.ops, [{ insert: 'a' }]);
  assert.equal((await record(storage)).inflight.seq, edit.clientSeq);
  conn.destroy();
});

test('an edit the server applied before the page went is acked, not applied twice', async () => {
  const storage = new MemoryStorage();
  const first = await connect(storage, 'c');
  const doc = first.conn.open('d1');
  await settle();
  first.ws.deliver({ snapshot: { docId: 'd1', rev: '1', text: 'hello' } });
  doc.insert(5, ' world');
  await settle();
  const [sent] = first.ws.take('edit');
  first.conn.destroy(); // the ack never came

  const second = await connect(storage, 'other');
  const again = second.conn.open('d1');
  await settle();
  // The server applied it long ago and forgot the revisions since.
  second.ws.deliver({ snapshot: { docId: 'd1', rev: '9', text: 'hello world!' } });
  await settle();
  const [resent] = second.ws.take('edit');
  assert.equal(resent.clientSeq, sent.clientSeq);
  second.ws.deliver({ ack: { docId: 'd1', clientSeq: String(sent.clientSeq), rev: '0' } });
  await settle();
  assert.equal(again.text, 'hello world!');
  assert.equal(again.hasUnsyncedChanges, false);
  second.conn.destroy();
});

test('numbering continues above the largest stored clientSeq', async () => {
  const storage = new MemoryStorage();
  const far = Date.now() + 1e9;
  await storage.put(['client', 'ws://fake/ws', 'alice'], { clientId: 'c' });
  await storage.put(['doc', 'ws://fake/ws', 'alice', 'd1'], { v: 1, clientId: 'c', maxSeq: far });
  const { conn, ws } = await connect(storage, 'ignored');
  const doc = conn.open('d1');
  await settle();
  ws.deliver({ snapshot: { docId: 'd1', rev: '1', text: '' } });
  doc.insert(0, 'a');
  await settle();
  const [edit] = ws.take('edit');
  assert.ok(edit.clientSeq > far, `${edit.clientSeq} > ${far}`);
  conn.destroy();
});

test('typing before the record is read goes after the stored edits, under a fresh clientSeq', async () => {
  const storage = new MemoryStorage();
  const far = Date.now() + 1e9;
  await storage.put(['client', 'ws://fake/ws', 'alice'], { clientId: 'c' });
  await storage.put(['doc', 'ws://fake/ws', 'alice', 'd1'], { v: 1, clientId: 'c', maxSeq: far, rev: 2, shadow: 'ab',
    inflight: { ops: [{ retain: 2 }, { insert: 'c' }], seq: far, count: 1 }, buffer: null });
  const get = storage.get.bind(storage);
  let release = null;
  storage.get = (key) => new Promise((r) => { release = r; }).then(() => get(key));
  FakeSocket.all = [];
  const conn = new StetConnection({ url: 'ws://fake/ws', token: 'tok', WebSocketPolyfill: FakeSocket,
    persistence: { storage, user: 'alice' } });
  const doc = conn.open('d1');
  doc.insert(0, 'Z');
  await settle();
  release();
  await settle();
  assert.equal(doc.text, 'abcZ');
  assert.equal(doc.unsyncedChanges, 2);
  const ws = FakeSocket.all[0];
  ws.accept();
  await settle();
  ws.deliver({ welcome: { clientId: 'c', username: 'alice' } });
  ws.deliver({ snapshot: { docId: 'd1', rev: '2', resumed: true } });
  await settle();
  const [edit] = ws.take('edit');
  assert.equal(edit.clientSeq, far);
  ws.deliver({ ack: { docId: 'd1', clientSeq: String(far), rev: '3' } });
  await settle();
  const [next] = ws.take('edit');
  assert.ok(next.clientSeq > far);
  assert.deepEqual(next.ops, [{ retain: 3 }, { insert: 'Z' }]);
  conn.destroy();
});

test('storage that fails costs persistence, not the edit', async () => {
  const storage = new MemoryStorage();
  const { conn, ws } = await connect(storage, 'c');
  storage.put = async () => { throw new Error('quota exceeded'); };
  const doc = conn.open('d1');
  const errors = [];
  doc.on('error', (e) => errors.push(e.code));
  await settle();
  ws.deliver({ snapshot: { docId: 'd1', rev: '1', text: '' } });
  doc.insert(0, 'a');
  await settle();
  assert.equal(ws.take('edit').length, 1);
  assert.deepEqual(errors, ['storage_failed']);
  conn.destroy();
});

test('a token of another user than the stored edits\' is refused before anything is resent', async () => {
  const storage = new MemoryStorage();
  FakeSocket.all = [];
  const conn = new StetConnection({ url: 'ws://fake/ws', token: 'tok', WebSocketPolyfill: FakeSocket,
    persistence: { storage, user: 'alice' } });
  const errors = [];
  conn.on('error', (e) => errors.push(e.code));
  conn.open('d1');
  await tick();
  const ws = FakeSocket.all[0];
  ws.accept();
  await settle();
  ws.deliver({ welcome: { clientId: 'x', username: 'mallory' } });
  await settle();
  assert.deepEqual(ws.take('join'), []);
  assert.deepEqual(errors, ['wrong_user']);
  assert.equal(conn.status, 'disconnected');
  conn.destroy();
});
