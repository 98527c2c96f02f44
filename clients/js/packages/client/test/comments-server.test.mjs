// Comment threads in Node against a real stet (STET_BINARY, else
// build/stet): a thread opened through the REST API reaches the other
// connection live, moves with both people's typing exactly as the server
// moves it, takes replies, resolves and reopens, is detached when its text
// goes, and is listed by GET .../comments; a commenter comments and cannot
// edit, a viewer reads and cannot comment; threads outlive a restart and
// come with a new join's snapshot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { StetConnection, cpLength, cpSlice } from '../src/index.js';
import { StetServer, waitUntil } from '../../../testing/stet-server.mjs';

const server = new StetServer();
const connections = [];

function connect(token) {
  const c = new StetConnection({ url: server.wsUrl, token, WebSocketPolyfill: WebSocket });
  connections.push(c);
  return c;
}

const synced = (doc) => doc.synced && !doc.hasUnsyncedChanges;
const quoted = (doc) => doc.comments.map((t) => cpSlice(doc.text, t.start, t.end - t.start));
// What a page shows of a thread: its place and state, messages and authors.
const shape = (t) => ({ id: t.id, start: t.start, end: t.end, detached: t.detached, resolved: t.resolved,
  entries: t.entries.map((e) => [e.user, e.text]) });
const listed = async (id, token) => {
  const r = await server.rest('GET', `/api/documents/${id}/comments`, null, token);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { rev: Number(r.body.rev), threads: (r.body.threads || []).map((t) => shape({
    id: Number(t.id), start: Number(t.start || 0), end: Number(t.end || 0), detached: !!t.detached, resolved: !!t.resolved,
    entries: (t.entries || []).map((e) => ({ user: e.user || null, text: e.text })) })) };
};

before(async () => {
  await server.start();
}, { timeout: 20000 });

after(async () => {
  for (const c of connections) c.destroy();
  await server.stop();
});

async function sharedDocument(title, others) {
  const owner = await server.login('olivia');
  const { id } = await server.createDocument(owner, { title });
  const tokens = { olivia: owner };
  for (const [name, role] of others) {
    tokens[name] = await server.login(name);
    const r = await server.rest('POST', `/api/documents/${id}/share`, { user: name, role }, owner);
    assert.ok(r.status < 300, JSON.stringify(r.body));
  }
  return { id, tokens };
}

test('a thread reaches the other connection live and moves, detaches and changes as on the server', { timeout: 60000 }, async () => {
  const { id, tokens } = await sharedDocument('fox.txt', [['paul', 'editor']]);
  const a = connect(tokens.olivia).open(id), b = connect(tokens.paul).open(id);
  await waitUntil(() => a.synced && b.synced, 10000, 'both to join');
  a.insert(0, 'The quick brown 🦊 jumps over the lazy dog');
  await waitUntil(() => synced(a) && b.text === a.text, 10000, 'the text at b');
  const events = [];
  b.on('comments', ({ action }) => action && events.push(action.kind));

  const start = 10, end = 17; // "brown 🦊": code points
  const opened = await a.addComment(start, end, 'Which fox?');
  await waitUntil(() => b.comments.length === 1 && a.comments.length === 1, 10000, 'the thread at both');
  assert.equal(opened.thread, b.comments[0].id);
  assert.deepEqual(quoted(b), ['brown 🦊']);
  const [t] = b.comments;
  assert.deepEqual(shape(t), { id: opened.thread, start, end, detached: false, resolved: false, entries: [['olivia', 'Which fox?']] });
  assert.ok(t.entries[0].userId > 0 && t.entries[0].time > 0, JSON.stringify(t.entries[0]));

  // At once: one types before the range, the other inside it and right after it.
  b.insert(0, 'Look: ');
  a.insert(16, 'red ');
  a.insert(21, ', yes');
  await waitUntil(() => synced(a) && synced(b) && a.text === b.text, 10000, 'both to agree');
  assert.equal(a.text, 'Look: The quick brown red 🦊, yes jumps over the lazy dog');
  assert.deepEqual(quoted(a), ['brown red 🦊']);
  assert.deepEqual(a.comments.map(shape), b.comments.map(shape));
  const list = await listed(id, tokens.paul);
  assert.equal(list.rev, a.rev);
  assert.deepEqual(list.threads, a.comments.map(shape), 'REST lists what the connections show');

  await b.replyToComment(opened.thread, 'The quick one');
  await waitUntil(() => a.comments[0]?.entries.length === 2, 10000, 'the reply at a');
  assert.deepEqual(a.comments[0].entries.map((e) => [e.user, e.text]), [['olivia', 'Which fox?'], ['paul', 'The quick one']]);
  await b.resolveComment(opened.thread);
  await waitUntil(() => a.comments[0]?.resolved === true, 10000, 'resolved at a');
  await a.reopenComment(opened.thread);
  await waitUntil(() => b.comments[0]?.resolved === false, 10000, 'reopened at b');

  // The commented text erased, and more typed where it was: detached for good.
  const from = cpLength('Look: The quick ');
  a.delete(from, cpLength('brown red 🦊'));
  a.insert(from, 'grey 🐺');
  await waitUntil(() => synced(a) && b.text === a.text && b.comments[0]?.detached, 10000, 'detached at b');
  assert.deepEqual(a.comments.map(shape), b.comments.map(shape));
  assert.deepEqual(shape(b.comments[0]).entries.length, 2);
  assert.equal(b.comments[0].start, b.comments[0].end);
  assert.deepEqual((await listed(id, tokens.olivia)).threads, b.comments.map(shape));

  // Only its author or the owner deletes it.
  const second = await b.addComment(0, 4, 'Look where?');
  await waitUntil(() => a.comments.length === 2, 10000, 'the second thread at a');
  await assert.rejects(b.deleteComment(opened.thread), { status: 403 });
  await a.deleteComment(second.thread);
  await waitUntil(() => b.comments.length === 1 && b.comments[0].id === opened.thread, 10000, 'the deletion at b');
  assert.deepEqual(events, ['open', 'reply', 'resolve', 'reopen', 'open', 'delete']);
});

test('a commenter comments and cannot edit; a viewer reads and cannot comment', { timeout: 60000 }, async () => {
  const { id, tokens } = await sharedDocument('roles.txt', [['cora', 'commenter'], ['vic', 'viewer']]);
  const owner = connect(tokens.olivia).open(id);
  await waitUntil(() => owner.synced, 10000, 'the owner\'s join');
  owner.insert(0, 'hello world');
  await waitUntil(() => synced(owner), 10000, 'the owner\'s edit');

  const c = connect(tokens.cora).open(id);
  await waitUntil(() => c.synced, 10000, 'the commenter\'s join');
  const errors = [];
  c.on('error', (e) => errors.push(e.code));
  await c.addComment(6, 11, 'world?');
  await waitUntil(() => owner.comments.length === 1, 10000, 'the commenter\'s thread at the owner');
  assert.deepEqual(owner.comments[0].entries.map((e) => e.user), ['cora']);
  c.insert(0, 'X');
  await waitUntil(() => errors.includes('forbidden') && synced(c), 10000, 'the edit refused');
  assert.equal(c.text, 'hello world', 'undone locally');
  assert.deepEqual(quoted(c), ['world']);
  assert.equal(await server.text(id, tokens.olivia), 'hello world');

  const v = connect(tokens.vic).open(id);
  await waitUntil(() => v.synced, 10000, 'the viewer\'s join');
  assert.deepEqual(quoted(v), ['world'], 'viewers see threads');
  assert.equal((await listed(id, tokens.vic)).threads.length, 1);
  await assert.rejects(v.addComment(0, 5, 'hello?'), { status: 403 });
  await assert.rejects(v.replyToComment(owner.comments[0].id, 'me too'), { status: 403 });
  await assert.rejects(c.addComment(0, 99, 'past the end'), RangeError);
});

test('threads outlive a restart and come with a new join\'s snapshot', { timeout: 60000 }, async () => {
  const { id, tokens } = await sharedDocument('kept.txt', []);
  const a = connect(tokens.olivia).open(id);
  await waitUntil(() => a.synced, 10000, 'the join');
  a.insert(0, 'one two three');
  await a.addComment(4, 7, 'two?');
  await waitUntil(() => a.comments.length === 1, 10000, 'the thread');
  a.insert(0, '0 ');
  await waitUntil(() => synced(a), 10000, 'the edit');
  const before = a.comments.map(shape);
  assert.deepEqual(quoted(a), ['two']);

  await server.kill();
  await server.start();
  await waitUntil(() => synced(a) && a.connection.status === 'connected', 30000, 'the rejoin');
  assert.deepEqual(a.comments.map(shape), before, 'the threads after a rejoin');
  const fresh = connect(tokens.olivia).open(id);
  await waitUntil(() => fresh.synced, 10000, 'a new join');
  assert.deepEqual(fresh.comments.map(shape), before, 'the threads in a new join\'s snapshot');
  assert.deepEqual((await listed(id, tokens.olivia)).threads, before);
});
