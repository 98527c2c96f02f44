// @stet/client in Node against a real stet (STET_BINARY, else build/stet),
// with the ws package as its WebSocket: two connections typing into one
// document at once converge on the server's text under both policies; the
// token function is asked again after a reconnect and after a revocation;
// hasUnsyncedChanges follows the acks; killing and restarting the server
// mid-typing loses no edit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { StetConnection, cpLength } from '../src/index.js';
import { StetServer, sleep, waitUntil } from '../../../testing/stet-server.mjs';

const server = new StetServer();
const connections = [];

function connect(token, clientId) {
  const c = new StetConnection({ url: server.wsUrl, token, clientId, WebSocketPolyfill: WebSocket });
  connections.push(c);
  return c;
}

const synced = (doc) => doc.synced && !doc.hasUnsyncedChanges;

before(async () => {
  await server.start();
}, { timeout: 20000 });

after(async () => {
  for (const c of connections) c.destroy();
  await server.stop();
});

// Random edits at random places, some of them deletes, some non-BMP.
async function type(doc, count, random) {
  const pieces = ['a', 'b', 'é', '😀', ' ', '\n', 'xyz'];
  for (let i = 0; i < count; i++) {
    const length = cpLength(doc.text);
    const at = random(length + 1);
    if (length > 4 && random(4) === 0) doc.delete(Math.min(at, length - 2), 2);
    else doc.insert(at, pieces[random(pieces.length)]);
    if (random(3) === 0) doc.setPresence(Math.min(at, cpLength(doc.text)));
    await sleep(random(12));
  }
}

// mulberry32: small, seedable, and no short cycles in the low bits.
function seeded(seed) {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

for (const policy of ['lww', 'merge']) {
  test(`two connections typing into one document at once converge (${policy})`, { timeout: 60000 }, async () => {
    const alice = await server.login(`alice-${policy}`);
    const bob = await server.login(`bob-${policy}`);
    const { id } = await server.createDocument(alice, { title: `both-${policy}.txt`, policy });
    await server.rest('POST', `/api/documents/${id}/share`, { user: `bob-${policy}`, role: 'editor' }, alice);
    const a = connect(alice).open(id), b = connect(bob).open(id);
    await waitUntil(() => a.synced && b.synced, 10000, 'both to join');
    assert.equal(a.policy, policy);
    await Promise.all([type(a, 120, seeded(1)), type(b, 120, seeded(2))]);
    await waitUntil(() => synced(a) && synced(b) && a.text === b.text, 30000, 'the two texts to agree');
    assert.equal(await server.text(id, alice), a.text);
    assert.ok(cpLength(a.text) > 50, `both typed: ${JSON.stringify(a.text)}`);
    // Cursors of participants who joined in one burst come with the roster
    // (--roster-interval-ms, a second).
    const sees = (doc, user) => doc.participants.some((p) => p.user === user && p.cursor !== null);
    await waitUntil(() => sees(a, `bob-${policy}`) && sees(b, `alice-${policy}`), 5000, 'each to see the other\'s cursor');
  });
}

test('hasUnsyncedChanges is true from an edit until its ack', { timeout: 20000 }, async () => {
  const token = await server.login('erin');
  const { id } = await server.createDocument(token, { title: 'acks.txt' });
  const conn = connect(token);
  const doc = conn.open(id);
  await waitUntil(() => doc.synced, 10000, 'the join');
  assert.equal(doc.hasUnsyncedChanges, false);
  const seen = [];
  doc.on('unsyncedChanges', ({ count }) => seen.push(count));
  doc.insert(0, 'hello');
  assert.equal(doc.hasUnsyncedChanges, true);
  assert.equal(conn.hasUnsyncedChanges, true);
  await waitUntil(() => !doc.hasUnsyncedChanges, 10000, 'the ack');
  assert.equal(conn.hasUnsyncedChanges, false);
  assert.deepEqual(seen, [1, 0]);
  assert.equal(await server.text(id, token), 'hello');
});

test('the token function is asked again after a reconnect and after a revocation', { timeout: 60000 }, async () => {
  const tokens = [];
  const fresh = async () => {
    tokens.push(await server.login('carol'));
    return tokens[tokens.length - 1];
  };
  const owner = await fresh();
  const { id } = await server.createDocument(owner, { title: 'tokens.txt' });
  const conn = connect(fresh);
  const errors = [];
  conn.on('error', (e) => errors.push(e.code));
  const doc = conn.open(id);
  await waitUntil(() => doc.synced, 10000, 'the join');
  assert.equal(tokens.length, 2);
  doc.insert(0, 'one ');
  await waitUntil(() => synced(doc), 10000, 'the first edit');

  await server.kill();
  await waitUntil(() => conn.status === 'disconnected', 10000, 'the drop to be noticed');
  doc.insert(cpLength(doc.text), 'two ');
  await server.start();
  await waitUntil(() => synced(doc), 20000, 'the resync after the restart');
  assert.equal(tokens.length, 3, 'asked again for the reconnect');

  // A logout revokes every token of the user; the session is told and
  // says hello again with what the function gives now.
  assert.equal((await server.rest('POST', '/api/logout', null, tokens[2])).status, 204);
  await waitUntil(() => tokens.length === 4, 10000, 'the token function to be asked after the revocation');
  doc.insert(cpLength(doc.text), 'three');
  await waitUntil(() => synced(doc), 10000, 'the edit after the renewal');
  assert.equal(await server.text(id, tokens[3]), 'one two three');
  assert.deepEqual(errors, [], 'a renewal the function answered is no error');
});

test('a server killed and restarted while a client types loses no edit', { timeout: 60000 }, async () => {
  const token = await server.login('dave');
  const { id } = await server.createDocument(token, { title: 'outage.txt' });
  const doc = connect(token).open(id);
  await waitUntil(() => doc.synced, 10000, 'the join');
  const typed = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(3);
  const typing = (async () => {
    for (const ch of typed) {
      doc.insert(cpLength(doc.text), ch);
      await sleep(15);
    }
  })();
  await sleep(500);
  await server.kill();
  await sleep(800); // typing goes on while the server is down
  await server.start();
  await typing;
  await waitUntil(() => synced(doc), 30000, 'the client to resync after the restart');
  assert.equal(doc.text, typed);
  assert.equal(await server.text(id, token), typed);
});
