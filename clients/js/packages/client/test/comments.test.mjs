// Comment threads: the anchor rule (moveRange) against a model that states
// it about characters instead of positions, the threads a document shows
// while its own edits are unacknowledged, and a document typing against a
// scripted server that orders its edits among someone else's edits and
// comment changes, which must end with the server's threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommentThreads, moveRange } from '../src/comments.js';
import { apiBase } from '../src/comments-api.js';
import { Op, StetConnection, apply, cpLength, transform, utf16Offset, utf16Offsets, withRemovedText } from '../src/index.js';
import { FakeSocket, tick } from './fake_server.mjs';

const ins = (at, text) => new Op().retain(at).insert(text);
const del = (at, n) => new Op().retain(at).erase(n);
const range = (start, end, detached = false) => ({ start, end, detached });

test('moveRange: inserts at the edges stay out, inside extend, erasing all of it detaches', () => {
  const r = range(2, 5); // "cde" of "abcdefg"
  assert.deepEqual(moveRange(r, ins(2, 'XY')), range(4, 7), 'at the start: before the range');
  assert.deepEqual(moveRange(r, ins(5, 'XY')), range(2, 5), 'at the end: after the range');
  assert.deepEqual(moveRange(r, ins(3, 'XY')), range(2, 7), 'inside: part of it');
  assert.deepEqual(moveRange(r, ins(0, '😀')), range(3, 6), 'code points: one');
  assert.deepEqual(moveRange(r, del(1, 2)), range(1, 3), 'its first character erased with one before');
  assert.deepEqual(moveRange(r, del(4, 3)), range(2, 4), 'its last character erased with those after');
  assert.deepEqual(moveRange(r, del(2, 3)), range(2, 2, true), 'all of it: detached where it was');
  assert.deepEqual(moveRange(r, del(0, 7)), range(0, 0, true));
  // Replaced: the new text comes before the erased text, at the start.
  assert.deepEqual(moveRange(r, new Op().retain(2).insert('new').erase(3)), range(5, 5, true));
});

test('moveRange: a detached thread moves as a cursor and never takes text in again', () => {
  const d = range(2, 2, true);
  assert.deepEqual(moveRange(d, ins(2, 'XY')), range(4, 4, true));
  assert.deepEqual(moveRange(d, ins(1, 'X')), range(3, 3, true));
  assert.deepEqual(moveRange(d, ins(3, 'X')), range(2, 2, true));
  assert.deepEqual(moveRange(d, del(0, 2)), range(0, 0, true));
  assert.deepEqual(moveRange(d, del(1, 5)), range(1, 1, true));
});

// mulberry32: small, seedable, no short cycles in the low bits.
function seeded(seed) {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const PIECES = ['x', 'yz', '😀', ' ', 'é\n'];

// A random op over `len` code points: up to three places, each an insert,
// an erase or both (a replacement).
function randomOp(len, pick) {
  const op = new Op();
  let p = 0;
  for (let k = 1 + pick(3); k > 0 && p <= len; k--) {
    const skip = pick(len - p + 1);
    op.retain(skip);
    p += skip;
    if (pick(2)) op.insert(PIECES[pick(PIECES.length)]);
    if (p < len && pick(2)) {
      const n = 1 + pick(Math.min(4, len - p));
      op.erase(n);
      p += n;
    }
  }
  return op;
}

// The rule said of characters: a thread covers the characters of the text
// it was opened on that are still there, and every character inserted
// between two characters it covers; with none left it is detached.
// `chars`: [{ch, id}]; `covered`: one Set of ids per thread, null once detached.
let nextId = 0;
const charsOf = (text) => [...text].map((ch) => ({ ch, id: nextId++ }));

function modelApply(chars, op, covered) {
  const out = [];
  const kept = covered.map(() => new Set());
  const isIn = (set, i) => set !== null && i >= 0 && i < chars.length && set.has(chars[i].id);
  const keep = (x, i) => covered.forEach((set, t) => isIn(set, i) && kept[t].add(x.id));
  let p = 0;
  for (const c of op.cs) {
    if (c.k === 'r') {
      for (const end = p + c.n; p < end; p++) {
        out.push(chars[p]);
        keep(chars[p], p);
      }
    } else if (c.k === 'i') {
      const inside = covered.map((set) => isIn(set, p - 1) && isIn(set, p));
      for (const ch of c.t) {
        const x = { ch, id: nextId++ };
        out.push(x);
        inside.forEach((yes, t) => yes && kept[t].add(x.id));
      }
    } else {
      p += c.n;
    }
  }
  for (; p < chars.length; p++) {
    out.push(chars[p]);
    keep(chars[p], p);
  }
  return { chars: out, covered: covered.map((set, t) => (set !== null && kept[t].size ? kept[t] : null)) };
}

// The range the model says: first to last covered character, which must be
// every character in between.
function modelRange(chars, set, what) {
  if (set === null) return null;
  const at = chars.map((x, i) => (set.has(x.id) ? i : -1)).filter((i) => i >= 0);
  const start = at[0], end = at[at.length - 1] + 1;
  assert.equal(at.length, end - start, `${what}: the covered characters are one run`);
  return { start, end };
}

test('property: a range covers exactly its surviving text and what was typed inside it', () => {
  for (let seed = 1; seed <= 3000; seed++) {
    const pick = seeded(seed);
    const text = [...'abcdefghijkl'].slice(0, 1 + pick(12)).join('');
    let chars = charsOf(text);
    const start = pick(chars.length), end = start + 1 + pick(chars.length - start);
    let covered = [new Set(chars.slice(start, end).map((x) => x.id))];
    let r = range(start, end);
    let wasDetached = false;
    for (let step = 0; step < 12; step++) {
      const op = randomOp(chars.length, pick);
      const before = chars.map((x) => x.ch).join('');
      ({ chars, covered } = modelApply(chars, op, covered));
      r = moveRange(r, op);
      const what = `seed ${seed} step ${step}`;
      assert.equal(chars.map((x) => x.ch).join(''), apply(before, op), `${what}: the model applies the op`);
      const expected = modelRange(chars, covered[0], what);
      if (expected === null) {
        assert.equal(r.detached, true, `${what}: detached`);
        assert.equal(r.start, r.end);
        assert.ok(r.start >= 0 && r.start <= chars.length, `${what}: where the text was`);
        wasDetached = true;
      } else {
        assert.deepEqual(r, range(expected.start, expected.end), what);
        assert.equal(wasDetached, false, `${what}: never attached again`);
      }
    }
  }
});

test('CommentThreads: wire threads and actions, in document order, records replaced on change', () => {
  const threads = new CommentThreads();
  threads.assign([
    { id: '9', start: 4, end: 6, entries: [{ rev: '9', userId: '2', user: 'bob', text: 'later', ts: String(1700000000000n << 16n | 3n) }] },
    { id: '7', end: 2, resolved: true, entries: [{ rev: '7', text: 'first' }] }, // start 0 left out
  ]);
  const before = threads.view([]);
  assert.deepEqual(before.map((t) => [t.id, t.start, t.end, t.detached, t.resolved]), [[7, 0, 2, false, true], [9, 4, 6, false, false]]);
  assert.deepEqual(before[1].entries[0], { rev: 9, userId: 2, user: 'bob', text: 'later', ts: String(1700000000000n << 16n | 3n), time: 1700000000000 });
  assert.equal(before[0].entries[0].user, null, 'anonymous');
  assert.equal(threads.view([]), before, 'the same list while nothing changed');

  const opened = threads.apply({ kind: 'open', thread: '12', start: 1, end: 3, text: 'hm', user: 'ann' }, 12, '5', '0');
  assert.deepEqual(opened, { kind: 'open', thread: 12, rev: 12, userId: 5, user: 'ann', text: 'hm' });
  threads.apply({ kind: 'reply', thread: '9', text: 'ok', user: 'ann' }, 13, 5, 0);
  threads.apply({ kind: 'resolve', thread: 12 }, 14, 5, 0);
  threads.apply({ kind: 'reopen', thread: 7 }, 15, 5, 0);
  threads.apply({ kind: 'delete', thread: 404 }, 16, 5, 0); // no such thread: nothing
  const after = threads.view([]);
  assert.notEqual(after, before);
  assert.deepEqual(after.map((t) => [t.id, t.start, t.end, t.resolved, t.entries.map((e) => e.text)]),
    [[7, 0, 2, false, ['first']], [12, 1, 3, true, ['hm']], [9, 4, 6, false, ['later', 'ok']]]);
  assert.deepEqual(before[1].entries.map((e) => e.text), ['later'], 'a list handed out before stays as it was');
  // Moved through edits not on the server yet, without changing the server's copy.
  const moved = threads.view([ins(0, 'ab'), null, del(0, 1)]);
  assert.deepEqual(moved.map((t) => [t.start, t.end]), [[1, 3], [2, 4], [5, 7]]);
  assert.deepEqual(threads.view([]).map((t) => t.start), [0, 1, 4]);
  threads.apply({ kind: 'delete', thread: 7 }, 17, 5, 0);
  assert.deepEqual(threads.view([]).map((t) => t.id), [12, 9]);
});

test('apiBase: the HTTP address beside the WebSocket one', () => {
  assert.equal(apiBase('ws://127.0.0.1:8080/ws'), 'http://127.0.0.1:8080');
  assert.equal(apiBase('wss://stet.example.com/ws'), 'https://stet.example.com');
  assert.equal(apiBase('wss://example.com/stet/ws'), 'https://example.com/stet');
});

test('utf16Offsets: many code point positions at once, as utf16Offset gives each', () => {
  const text = 'a😀b\n𝄞é😀';
  const cps = [7, 0, 3, 1, 3, 6, 2];
  const at = utf16Offsets(text, cps);
  assert.deepEqual(cps.map((p) => at.get(p)), cps.map((p) => utf16Offset(text, p)));
  assert.equal(at.size, 6);
});

// -- a document --

async function joinedWith(text, comments, policy = 'merge') {
  FakeSocket.all = [];
  const conn = new StetConnection({ url: 'ws://fake/ws', token: () => 'tok', clientId: 'me', WebSocketPolyfill: FakeSocket, minDelay: 5, maxDelay: 20 });
  await tick();
  const ws = FakeSocket.all[0];
  ws.accept();
  await tick();
  const doc = conn.open('d1');
  ws.deliver({ welcome: { clientId: 'me', username: 'alice' } });
  ws.take('join');
  ws.deliver({ snapshot: { docId: 'd1', rev: '3', text, policy, comments } });
  return { conn, ws, doc };
}

const spans = (doc) => doc.comments.map((t) => [t.id, t.start, t.end, t.detached]);
const quoted = (doc) => doc.comments.map((t) => [...doc.text].slice(t.start, t.end).join(''));
const thread = (id, start, end, text = 'note') => ({ id: String(id), start, end, entries: [{ rev: String(id), userId: '1', user: 'bob', text }] });

test('a document shows the server\'s threads moved through its unacknowledged edits', { timeout: 5000 }, async () => {
  const { conn, ws, doc } = await joinedWith('hello world', [thread(2, 6, 11)]);
  const events = [];
  doc.on('comments', (e) => events.push(e.action?.kind ?? 'moved'));
  assert.deepEqual(quoted(doc), ['world']);
  doc.insert(0, '> '); // in flight
  doc.insert(13, '!'); // buffered: at the end, outside
  assert.deepEqual(spans(doc), [[2, 8, 13, false]]);
  // A thread opened on the server's text, which has neither edit yet.
  ws.deliver({ applied: { docId: 'd1', rev: '4', ops: [], userId: '1', ts: '0', comment: { kind: 'open', thread: '4', start: 0, end: 5, text: 'hi', user: 'bob' } } });
  assert.deepEqual(quoted(doc), ['hello', 'world']);
  // Someone types inside "hello" on the server, before our edits.
  ws.deliver({ applied: { docId: 'd1', rev: '5', ops: [{ retain: 4 }, { insert: 'o' }] } });
  assert.equal(doc.text, '> helloo world!');
  assert.deepEqual(quoted(doc), ['helloo', 'world']);
  const [edit] = ws.take('edit');
  ws.deliver({ ack: { docId: 'd1', clientSeq: String(edit.clientSeq), rev: '6' } });
  assert.deepEqual(quoted(doc), ['helloo', 'world']);
  assert.deepEqual(events, ['moved', 'moved', 'open', 'moved']);
  conn.destroy();
});

test('a refused edit that had erased a thread\'s text gives the thread its text back', { timeout: 5000 }, async () => {
  const { conn, ws, doc } = await joinedWith('abcdef', [thread(2, 1, 3)]);
  doc.delete(0, 4);
  assert.deepEqual(spans(doc), [[2, 0, 0, true]]);
  const [edit] = ws.take('edit');
  ws.deliver({ error: { code: 'forbidden', message: 'commenter', docId: 'd1', clientSeq: String(edit.clientSeq) } });
  assert.equal(doc.text, 'abcdef');
  assert.deepEqual(spans(doc), [[2, 1, 3, false]], 'the server never detached it');
  conn.destroy();
});

test('a resumed join keeps the threads; a full snapshot replaces them', { timeout: 5000 }, async () => {
  const { conn, ws, doc } = await joinedWith('abcdef', [thread(2, 1, 3)]);
  ws.close();
  await new Promise((r) => setTimeout(r, 40)); // the reconnect (minDelay 5 ms)
  const ws2 = FakeSocket.all.at(-1);
  ws2.accept();
  await tick();
  ws2.deliver({ welcome: { clientId: 'me', username: 'alice' } });
  assert.deepEqual(ws2.take('join'), [{ docId: 'd1', knownRev: 3 }]);
  ws2.deliver({ snapshot: { docId: 'd1', rev: '3', resumed: true } });
  assert.deepEqual(spans(doc), [[2, 1, 3, false]]);
  ws2.deliver({ applied: { docId: 'd1', rev: '4', ops: [{ insert: 'Z' }] } });
  assert.deepEqual(spans(doc), [[2, 2, 4, false]]);
  ws2.deliver({ snapshot: { docId: 'd1', rev: '9', text: 'Zabcdef', comments: [thread(8, 5, 7, 'other')] } });
  assert.deepEqual(spans(doc), [[8, 5, 7, false]]);
  ws2.deliver({ snapshot: { docId: 'd1', rev: '10', text: 'Zabcdef' } });
  assert.deepEqual(doc.comments, []);
  conn.destroy();
});

// A scripted server: it orders this client's edits among someone else's and
// among comment changes, as stet does, and keeps the character model of
// every thread beside its own copy.
class Server {
  constructor(ws, text, policy) {
    this.ws = ws;
    this.policy = policy;
    this.text = text;
    this.rev = 3;
    this.log = new Map(); // rev -> op as applied
    this.threads = new CommentThreads();
    this.chars = charsOf(text);
    this.model = new Map(); // thread id -> covered ids | null
  }

  commit(op) {
    op = withRemovedText(this.text, op);
    this.text = apply(this.text, op);
    this.rev++;
    this.log.set(this.rev, op);
    this.threads.move(op);
    const ids = [...this.model.keys()];
    const next = modelApply(this.chars, op, ids.map((id) => this.model.get(id)));
    this.chars = next.chars;
    ids.forEach((id, i) => this.model.set(id, next.covered[i]));
    return op;
  }

  // Someone else's edit, ordered now.
  other(op) {
    op = this.commit(op);
    this.ws.deliver({ applied: { docId: 'd1', rev: String(this.rev), ops: op.toWire(true), author: 'bob', userId: '2', ts: '0' } });
  }

  comment(action) {
    this.rev++;
    this.log.set(this.rev, new Op());
    const applied = this.threads.apply(action, this.rev, 2, 0);
    if (action.kind === 'open') {
      this.model.set(this.rev, new Set(this.chars.slice(action.start, action.end).map((x) => x.id)));
      action = { ...action, thread: String(this.rev) };
    }
    if (action.kind === 'delete') this.model.delete(applied.thread);
    this.ws.deliver({ applied: { docId: 'd1', rev: String(this.rev), ops: [], userId: '2', ts: '0', comment: action } });
  }

  // This client's edits, transformed past what was ordered since their base.
  serve() {
    for (const e of this.ws.take('edit')) {
      let op = Op.fromWire(e.ops);
      for (let r = Number(e.baseRev) + 1; r <= this.rev; r++) op = transform(this.log.get(r), op, this.policy).later;
      this.commit(op);
      this.ws.deliver({ ack: { docId: 'd1', clientSeq: String(e.clientSeq), rev: String(this.rev) } });
    }
  }
}

for (const policy of ['merge', 'lww']) {
  test(`property: typing among others' edits and comment changes ends with the server's threads (${policy})`, { timeout: 30000 }, async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const pick = seeded(seed * 7919);
      const { conn, ws, doc } = await joinedWith('abcdefghij', [], policy);
      const server = new Server(ws, 'abcdefghij', policy);
      for (let step = 0; step < 40; step++) {
        const what = `seed ${seed} step ${step}`;
        const roll = pick(20);
        if (roll < 7) {
          doc.edit(randomOp(cpLength(doc.text), pick));
        } else if (roll < 12) {
          server.other(randomOp(cpLength(server.text), pick));
        } else if (roll < 15) {
          server.serve();
        } else {
          const len = cpLength(server.text);
          const ids = server.threads.view([]).map((t) => t.id);
          const kind = !ids.length || pick(2) ? 'open' : ['reply', 'resolve', 'reopen', 'delete'][pick(4)];
          if (kind === 'open' && len > 0) {
            const start = pick(len);
            server.comment({ kind, start, end: start + 1 + pick(len - start), text: `t${step}`, user: 'bob' });
          } else if (kind !== 'open') {
            server.comment({ kind, thread: String(ids[pick(ids.length)]), text: `r${step}`, user: 'bob' });
          }
        }
        const length = cpLength(doc.text);
        for (const t of doc.comments)
          assert.ok(t.start >= 0 && t.start <= t.end && t.end <= length && (!t.detached || t.start === t.end), `${what}: ${JSON.stringify(t)}`);
      }
      // With nobody else typing, the server taking our edits moves no thread.
      const shown = spans(doc);
      for (let i = 0; i < 5 && doc.hasUnsyncedChanges; i++) server.serve();
      assert.equal(doc.hasUnsyncedChanges, false);
      assert.deepEqual(spans(doc), shown, `seed ${seed}: nothing moves when the server takes our edits`);
      assert.equal(doc.text, server.text, `seed ${seed}`);
      assert.deepEqual(doc.comments, server.threads.view([]), `seed ${seed}: the server's threads`);
      for (const t of doc.comments) {
        const expected = modelRange(server.chars, server.model.get(t.id), `seed ${seed}`);
        if (expected === null) assert.equal(t.detached, true, `seed ${seed}: thread ${t.id} detached`);
        else assert.deepEqual([t.start, t.end, t.detached], [expected.start, expected.end, false], `seed ${seed}: thread ${t.id}`);
      }
      conn.destroy();
    }
  });
}

test('addComment waits for the server to have every local edit, then sends the range at doc.rev', { timeout: 5000 }, async (t) => {
  const { conn, ws, doc } = await joinedWith('hello world', []);
  const requests = [];
  let answer = { status: 200, body: { rev: '7', thread: { id: '7' } } };
  t.mock.method(globalThis, 'fetch', async (url, init) => {
    requests.push({ url, method: init.method, auth: init.headers.Authorization, body: JSON.parse(init.body || 'null') });
    return new Response(JSON.stringify(answer.body), { status: answer.status, headers: { 'Content-Type': 'application/json' } });
  });
  doc.insert(0, '> '); // "> hello world", in flight
  const added = doc.addComment(8, 13, 'which world?');
  await tick();
  assert.equal(requests.length, 0, 'not while an edit is unacknowledged');
  ws.deliver({ applied: { docId: 'd1', rev: '4', ops: [{ retain: 6 }, { insert: ',' }] } }); // "hello, world"
  const [edit] = ws.take('edit');
  ws.deliver({ ack: { docId: 'd1', clientSeq: String(edit.clientSeq), rev: '5' } });
  assert.deepEqual(await added, { rev: 7, thread: 7 });
  assert.deepEqual(requests, [{ url: 'http://fake/api/documents/d1/comments', method: 'POST', auth: 'Bearer tok',
    body: { start: 9, end: 14, text: 'which world?', baseRev: 5 } }]);
  assert.equal([...doc.text].slice(9, 14).join(''), 'world');

  answer = { status: 403, body: { error: { code: 'forbidden', message: 'viewers may not comment' } } };
  await assert.rejects(doc.replyToComment(7, 'yes'), { code: 'forbidden', status: 403, message: 'viewers may not comment' });
  assert.deepEqual(requests.at(-1), { url: 'http://fake/api/documents/d1/comments/7/replies', method: 'POST', auth: 'Bearer tok', body: { text: 'yes' } });
  answer = { status: 200, body: { rev: '9' } };
  assert.deepEqual(await doc.resolveComment(7), { rev: 9 });
  await doc.reopenComment(7);
  await doc.deleteComment(7);
  assert.deepEqual(requests.slice(-3).map((r) => [r.method, r.url.replace('http://fake/api/documents/d1/comments', '')]),
    [['POST', '/7/resolve'], ['POST', '/7/reopen'], ['DELETE', '/7']]);
  await assert.rejects(doc.addComment(3, 3, 'empty'), RangeError);
  conn.destroy();
});

test('addComment gives up when the text to comment on is deleted while it waits', { timeout: 5000 }, async (t) => {
  const { conn, ws, doc } = await joinedWith('hello world', []);
  t.mock.method(globalThis, 'fetch', async () => assert.fail('nothing is sent'));
  doc.insert(0, '> ');
  const added = doc.addComment(2, 7, 'hello?');
  ws.deliver({ applied: { docId: 'd1', rev: '4', ops: [{ delete: 6 }] } }); // "world"
  await assert.rejects(added, { code: 'detached' });
  assert.equal(doc.text, '> world');
  conn.destroy();
});
