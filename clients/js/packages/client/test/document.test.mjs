// The client's protocol logic against a scripted server (a fake WebSocket
// the test speaks for): joins, the edit in flight and the buffer, refusals,
// token renewal, reconnects and a snapshot that already holds our edit.
// The real server is in server.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StetConnection } from '../src/index.js';

import { FakeSocket, joined, sleep, tick } from './fake_server.mjs';

test('hello carries the token; documents join once welcomed and resume from their rev after a reconnect', { timeout: 5000 }, async () => {
  FakeSocket.all = [];
  let calls = 0;
  const statuses = [];
  const conn = new StetConnection({ url: 'ws://fake/ws', token: async () => `t${++calls}`, WebSocketPolyfill: FakeSocket, minDelay: 5, maxDelay: 20 });
  conn.on('status', (s) => statuses.push(s.status));
  const doc = conn.open('d1', { policy: 'merge' });
  await tick();
  const first = FakeSocket.all[0];
  first.accept();
  await tick();
  assert.equal(first.take('hello')[0].token, 't1');
  assert.deepEqual(first.take('join'), [], 'no join before the welcome');
  first.deliver({ welcome: { clientId: conn.clientId } });
  assert.deepEqual(first.take('join'), [{ docId: 'd1', knownRev: 0, policy: 'merge' }]);
  first.deliver({ snapshot: { docId: 'd1', rev: '7', text: 'héllo 😀', policy: 'merge' } });
  assert.equal(doc.text, 'héllo 😀');
  assert.equal(doc.rev, 7);
  assert.ok(doc.synced);
  const dropped = new Promise((resolve) => conn.once('status', resolve));
  first.close();
  const { status, retryIn } = await dropped;
  assert.equal(status, 'disconnected');
  assert.ok(retryIn >= 0.0025 && retryIn <= 0.005, `retry in ${retryIn} s: 50-100 % of the first step`);
  assert.equal(doc.synced, false);
  while (!FakeSocket.all[1]) await sleep(2); // bounded by the test's timeout
  const second = FakeSocket.all[1];
  second.accept();
  await tick();
  assert.equal(second.take('hello')[0].token, 't2', 'the token function is asked again');
  second.deliver({ welcome: { clientId: conn.clientId } });
  assert.deepEqual(second.take('join'), [{ docId: 'd1', knownRev: 7, policy: 'merge' }]);
  assert.deepEqual(statuses, ['connecting', 'connected', 'disconnected', 'connecting', 'connected']);
  conn.destroy();
});

test('one edit in flight, later ones composed and sent on its ack', { timeout: 5000 }, async () => {
  const { conn, ws, doc } = await joined('abc');
  const counts = [];
  doc.on('unsyncedChanges', ({ count }) => counts.push(count));
  doc.insert(3, 'x');
  doc.insert(4, 'y');
  doc.delete(0, 1);
  assert.equal(doc.text, 'bcxy');
  assert.ok(doc.hasUnsyncedChanges && conn.hasUnsyncedChanges);
  const [first] = ws.take('edit');
  assert.deepEqual(first.ops, [{ retain: 3 }, { insert: 'x' }]);
  assert.equal(first.baseRev, 3);
  assert.deepEqual(ws.take('edit'), [], 'one edit in flight');
  ws.deliver({ ack: { docId: 'd1', clientSeq: String(first.clientSeq), rev: '4' } });
  const [second] = ws.take('edit');
  assert.deepEqual(second.ops, [{ delete: 1 }, { retain: 3 }, { insert: 'y' }]);
  assert.equal(second.baseRev, 4);
  assert.ok(second.clientSeq > first.clientSeq);
  ws.deliver({ ack: { docId: 'd1', clientSeq: String(second.clientSeq), rev: '5' } });
  assert.equal(doc.hasUnsyncedChanges, false);
  assert.equal(conn.hasUnsyncedChanges, false);
  assert.deepEqual(counts, [1, 2, 3, 2, 0]);
  conn.destroy();
});

test('edits of others transform against ours; a gap in revisions resumes', { timeout: 5000 }, async () => {
  const { conn, ws, doc } = await joined('abc');
  const remote = [];
  doc.on('change', (c) => { if (!c.local) remote.push(c.ops); });
  doc.insert(3, 'X');
  const [mine] = ws.take('edit');
  ws.deliver({ applied: { docId: 'd1', rev: '4', ops: [{ insert: 'Y' }], author: 'other' } });
  assert.equal(doc.text, 'YabcX');
  assert.deepEqual(remote, [[{ insert: 'Y' }]]);
  ws.deliver({ ack: { docId: 'd1', clientSeq: String(mine.clientSeq), rev: '5' } });
  assert.equal(doc.rev, 5);
  ws.deliver({ applied: { docId: 'd1', rev: '7', ops: [{ insert: 'Z' }] } });
  assert.equal(doc.text, 'YabcX', 'rev 7 after 5 is not applied');
  assert.deepEqual(ws.take('join'), [{ docId: 'd1', knownRev: 5 }]);
  conn.destroy();
});

test('an expired token: hello again with a fresh one, join again, resend the edit under its number', { timeout: 5000 }, async () => {
  let calls = 0;
  const { conn, ws, doc } = await joined('abc', () => `t${++calls}`);
  doc.insert(0, '>');
  const [edit] = ws.take('edit');
  ws.take('hello');
  ws.deliver({ error: { code: 'token_expired', message: 'expired' } });
  ws.deliver({ error: { code: 'token_expired', message: 'refused', docId: 'd1', clientSeq: String(edit.clientSeq) } });
  await tick();
  assert.equal(calls, 2);
  assert.equal(ws.take('hello')[0].token, 't2');
  assert.equal(conn.status, 'connecting');
  doc.insert(1, '>');
  assert.deepEqual(ws.take('edit'), [], 'nothing is sent before the welcome');
  ws.deliver({ welcome: { clientId: 'me', username: 'alice' } });
  assert.deepEqual(ws.take('join'), [{ docId: 'd1', knownRev: 3 }]);
  ws.deliver({ snapshot: { docId: 'd1', rev: '3', resumed: true } });
  const resent = ws.take('edit');
  assert.equal(resent.length, 1);
  assert.equal(resent[0].clientSeq, edit.clientSeq);
  assert.deepEqual(resent[0].ops, edit.ops);
  conn.destroy();
});

test('refused for now is resent later; refused for good is undone', { timeout: 5000 }, async () => {
  const { conn, ws, doc } = await joined('abc');
  const errors = [];
  doc.on('error', (e) => errors.push(e.code));
  doc.insert(3, 'd');
  const [edit] = ws.take('edit');
  ws.deliver({ error: { code: 'rate_limited', message: 'slow down', docId: 'd1', clientSeq: String(edit.clientSeq) } });
  assert.deepEqual(ws.take('edit'), []);
  await sleep(400);
  const [again] = ws.take('edit');
  assert.equal(again?.clientSeq, edit.clientSeq, 'the same edit, resent');
  doc.insert(0, '!');
  ws.deliver({ error: { code: 'forbidden', message: 'viewer', docId: 'd1', clientSeq: String(edit.clientSeq) } });
  assert.equal(doc.text, '!abc', 'the refused edit is undone, the later one kept');
  const [next] = ws.take('edit');
  assert.deepEqual(next.ops, [{ insert: '!' }]);
  assert.deepEqual(errors, ['forbidden']);
  conn.destroy();
});

test('an ack for an edit the new snapshot already holds leaves one copy of it', { timeout: 5000 }, async () => {
  const { conn, ws, doc } = await joined('abc');
  doc.insert(3, 'X');
  const [edit] = ws.take('edit');
  ws.close(); // the ack is lost with the connection
  await sleep(40);
  const ws2 = FakeSocket.all[1];
  ws2.accept();
  await tick();
  doc.insert(0, '<');
  ws2.deliver({ welcome: { clientId: 'me', username: 'alice' } });
  assert.deepEqual(ws2.take('join'), [{ docId: 'd1', knownRev: 3 }]);
  // History did not reach back: the whole text, which has our X already.
  ws2.deliver({ snapshot: { docId: 'd1', rev: '4', text: 'abcX' } });
  const [resent] = ws2.take('edit');
  assert.equal(resent.clientSeq, edit.clientSeq);
  ws2.deliver({ ack: { docId: 'd1', clientSeq: String(edit.clientSeq), rev: '4' } });
  assert.equal(doc.text, '<abcX');
  const [next] = ws2.take('edit');
  assert.deepEqual(next.ops, [{ insert: '<' }]);
  assert.equal(next.baseRev, 4);
  conn.destroy();
});

test('participants: from the snapshot and presence, moved by edits, never ourselves', { timeout: 5000 }, async () => {
  FakeSocket.all = [];
  const conn = new StetConnection({ url: 'ws://fake/ws', token: 'tok', clientId: 'me', WebSocketPolyfill: FakeSocket });
  await tick();
  const ws = FakeSocket.all[0];
  ws.accept();
  await tick();
  const doc = conn.open('d1');
  ws.deliver({ welcome: { clientId: 'me', username: 'alice' } });
  ws.deliver({ snapshot: { docId: 'd1', rev: '1', text: 'héllo', participants: [
    { clientId: 'me', user: 'alice' }, { clientId: 'b1', user: 'bob' }, { clientId: 'me', user: 'mallory' }] } });
  assert.deepEqual(doc.participants.map((p) => p.name).sort(), ['bob (b1)', 'mallory (me)']);
  ws.deliver({ presence: { docId: 'd1', clientId: 'b1', user: 'bob', cursor: 5, anchor: 1 } },
    { presence: { docId: 'd1', clientId: 'me', user: 'alice', cursor: 2, anchor: 2 } });
  const bob = () => doc.participants.find((p) => p.clientId === 'b1');
  assert.equal(bob().cursor, 5);
  ws.deliver({ presence: { docId: 'd1', clientId: 'b1', user: 'bob' } }); // a roster line: no cursor
  assert.deepEqual([bob().cursor, bob().anchor], [5, 1]);
  doc.setPresence(3, 3);
  assert.deepEqual(ws.take('presence'), [{ docId: 'd1', cursor: 3, anchor: 3 }]);
  doc.insert(0, '😀');
  assert.deepEqual([bob().cursor, bob().anchor], [6, 2]);
  doc.setPresence(1);
  assert.deepEqual(ws.take('presence'), [], 'not while an edit of ours is unacknowledged');
  const [edit] = ws.take('edit');
  ws.deliver({ ack: { docId: 'd1', clientSeq: String(edit.clientSeq), rev: '2' } });
  assert.deepEqual(ws.take('presence'), [{ docId: 'd1', cursor: 1, anchor: 1 }]);
  ws.deliver({ presence: { docId: 'd1', clientId: 'b1', user: 'bob', left: true } });
  assert.deepEqual(doc.participants.map((p) => p.name), ['mallory (me)']);
  conn.destroy();
});

test('a frame with several messages, and an edit longer than the text', { timeout: 5000 }, async () => {
  const { conn, ws, doc } = await joined('ab');
  ws.deliver({ applied: { docId: 'd1', rev: '4', ops: [{ retain: 2 }, { insert: 'c' }] } },
    { applied: { docId: 'd1', rev: '5', ops: [{ delete: 1, deleted: 'a' }] } });
  assert.equal(doc.text, 'bc');
  assert.equal(doc.rev, 5);
  assert.throws(() => doc.delete(1, 2), RangeError);
  assert.equal(doc.hasUnsyncedChanges, false);
  conn.destroy();
});
