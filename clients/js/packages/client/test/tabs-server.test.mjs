// Persistence and tab sharing against a real stet (STET_BINARY, else
// build/stet): typing of a connection that went while the server was down
// is delivered by the next connection on the same storage; an edit the
// server applied whose ack was lost is resent and deduplicated, not
// applied twice; tabs of one browser (fake_tabs.mjs) share one WebSocket
// per document, and when the leading tab crashes while another types,
// every character lands exactly once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { MemoryStorage, StetConnection, cpLength, cpSlice } from '../src/index.js';
import { StetServer, sleep, waitUntil } from '../../../testing/stet-server.mjs';
import { FakeBrowser } from './fake_tabs.mjs';

const server = new StetServer();
const closers = [];

before(async () => {
  await server.start();
}, { timeout: 20000 });

after(async () => {
  for (const close of closers) await close();
  await server.stop();
});

function connect(token, user, storage, WebSocketPolyfill = WebSocket) {
  const c = new StetConnection({ url: server.wsUrl, token, WebSocketPolyfill, minDelay: 50, maxDelay: 500,
    persistence: { storage, user } });
  closers.push(() => c.destroy());
  return c;
}

const settled = (doc) => doc.synced && !doc.hasUnsyncedChanges;

async function typeChars(doc, text, where = () => cpLength(doc.text), pause = 10) {
  for (const ch of text) {
    doc.insert(where(), ch);
    await sleep(pause);
  }
}

test('typing of a connection that went while the server was down is delivered by the next one', { timeout: 60000 }, async () => {
  const token = await server.login('pia');
  const { id } = await server.createDocument(token, { title: 'offline.txt', policy: 'merge' });
  const storage = new MemoryStorage();
  const first = connect(token, 'pia', storage);
  const doc = first.open(id);
  await waitUntil(() => doc.synced, 10000, 'the join');
  await typeChars(doc, 'before ');
  await waitUntil(() => settled(doc), 10000, 'the first words acknowledged');
  await server.kill();
  await typeChars(doc, 'typed offline');
  await doc._recorder.flush();
  first.destroy(); // the page goes with the server still down
  await server.start();
  const second = connect(token, 'pia', storage);
  const again = second.open(id);
  await waitUntil(() => settled(again), 20000, 'the stored typing delivered');
  assert.equal(second.clientId, first.clientId, 'the stored client id');
  assert.equal(again.text, 'before typed offline');
  assert.equal(await server.text(id, token), 'before typed offline');
});

// A WebSocket whose acks never arrive: the server applied the edits, the
// client never heard.
class AckLosingSocket extends WebSocket {
  set onmessage(fn) {
    super.onmessage = (e) => {
      const kept = String(e.data).split('\n').filter((line) => !line.startsWith('{"ack"')).join('\n');
      if (kept) fn({ data: kept });
    };
  }

  get onmessage() {
    return super.onmessage;
  }
}

test('an edit the server applied before its ack was lost is resent by the next connection and applied once', { timeout: 60000 }, async () => {
  const token = await server.login('quinn');
  const { id } = await server.createDocument(token, { title: 'lost-ack.txt', policy: 'merge' });
  const storage = new MemoryStorage();
  const first = connect(token, 'quinn', storage, AckLosingSocket);
  const doc = first.open(id);
  await waitUntil(() => doc.synced, 10000, 'the join');
  doc.insert(0, 'only once');
  await waitUntil(async () => (await server.text(id, token)) === 'only once', 10000, 'the server to apply it');
  assert.equal(doc.hasUnsyncedChanges, true, 'no ack came');
  await doc._recorder.flush();
  first.destroy();
  const again = connect(token, 'quinn', storage).open(id);
  await waitUntil(() => settled(again), 20000, 'the resend acknowledged');
  assert.equal(again.text, 'only once');
  assert.equal(await server.text(id, token), 'only once');
});

test('tabs share one WebSocket per document; the leading tab crashing while another types loses nothing', { timeout: 90000 }, async () => {
  const token = await server.login('rosa');
  const { id } = await server.createDocument(token, { title: 'tabs.txt', policy: 'merge' });
  const browser = new FakeBrowser();
  const options = { url: server.wsUrl, token, user: 'rosa', WebSocketPolyfill: WebSocket, minDelay: 50, maxDelay: 500 };
  const [ta, tb] = [browser.tab(options), browser.tab(options)];
  closers.push(() => ta.tabs.destroy(), () => tb.tabs.destroy());
  const a = ta.tabs.open(id), b = tb.tabs.open(id);
  await waitUntil(() => a.synced && b.synced, 10000, 'both tabs to join');
  await Promise.all([typeChars(a, 'AAAA', () => 0), typeChars(b, 'bbbb')]);
  await waitUntil(() => settled(a) && settled(b) && a.text === b.text, 20000, 'the tabs to agree');
  assert.equal(await server.text(id, token), a.text);
  assert.equal(a.text, 'AAAAbbbb');
  assert.equal(ta.sockets.size + tb.sockets.size, 1, 'one WebSocket between them');

  const typed = 'the follower keeps typing through the crash';
  const typing = typeChars(b, typed, () => cpLength(b.text), 15);
  await sleep(250);
  ta.crash();
  await typing;
  await waitUntil(() => b.isLeader && settled(b), 30000, 'the follower to take over and deliver');
  assert.equal(b.text, 'AAAAbbbb' + typed);
  assert.equal(await server.text(id, token), b.text);
  assert.equal(tb.sockets.size, 1);
});

test('a tab that does not hold the document comments through the one that does, and every tab sees the threads', { timeout: 60000 }, async () => {
  const token = await server.login('sami');
  const { id } = await server.createDocument(token, { title: 'tab-comments.txt', policy: 'merge' });
  await server.rest('PUT', `/api/documents/${id}/text`, { text: 'the quick brown fox' }, token);
  const browser = new FakeBrowser();
  const options = { url: server.wsUrl, token, user: 'sami', WebSocketPolyfill: WebSocket, minDelay: 50, maxDelay: 500 };
  const [ta, tb] = [browser.tab(options), browser.tab(options)];
  closers.push(() => ta.tabs.destroy(), () => tb.tabs.destroy());
  const a = ta.tabs.open(id), b = tb.tabs.open(id);
  await waitUntil(() => a.synced && b.synced && b.text === 'the quick brown fox', 10000, 'both tabs to join');
  const quoted = (doc) => doc.comments.map((t) => [cpSlice(doc.text, t.start, t.end - t.start), t.resolved, t.entries.map((e) => e.text)]);

  b.insert(0, '> ');
  const { thread } = await b.addComment(6, 11, 'why quick?');
  await waitUntil(() => quoted(a).length === 1 && quoted(b).length === 1, 10000, 'the thread in both tabs');
  assert.deepEqual(quoted(a), [['quick', false, ['why quick?']]]);
  assert.deepEqual(quoted(b), quoted(a));
  await typeChars(a, 'very ', () => 2);
  await waitUntil(() => settled(a) && settled(b) && b.text === a.text, 10000, 'the typing in both');
  assert.deepEqual(quoted(b), [['quick', false, ['why quick?']]], 'the thread moved with the text');
  await a.replyToComment(thread, 'it is');
  await b.resolveComment(thread);
  await waitUntil(() => quoted(a)[0]?.[1] && quoted(b)[0]?.[1] && quoted(b)[0][2].length === 2, 10000, 'the reply and the resolve in both tabs');
  assert.deepEqual(quoted(b), [['quick', true, ['why quick?', 'it is']]]);
  const listed = await server.rest('GET', `/api/documents/${id}/comments`, null, token);
  assert.equal(listed.body.threads.length, 1);
  assert.equal(listed.body.threads[0].resolved, true);
});
