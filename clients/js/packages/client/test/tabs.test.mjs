// TabConnection (src/tabs.js, tab_hub.js, tab_link.js) with tabs of one
// browser simulated in Node (fake_tabs.mjs) against a scripted server:
// one WebSocket per document for all tabs, each tab's typing in the
// others', and hand-overs (the leader closing the document, the leader's
// tab crashing, even between storing an edit and acknowledging it) that
// lose nothing stored and apply nothing twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Op, apply } from '../src/index.js';
import { FakeSocket, sleep } from './fake_server.mjs';
import { FakeBrowser, MiniServer } from './fake_tabs.mjs';

const applyWire = (text, ops) => apply(text, Op.fromWire(ops));
const options = { url: 'ws://fake/ws', token: 'tok', user: 'alice', WebSocketPolyfill: FakeSocket, minDelay: 5, maxDelay: 20 };

// Serves every open fake socket (unless `offline`) until `cond()` holds.
async function until(server, cond, what, { offline = false } = {}) {
  for (let i = 0; i < 600; i++) {
    if (!offline) for (const ws of FakeSocket.all) if (ws.readyState < 3) server.serve(ws, applyWire);
    if (cond()) return;
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const settled = (...docs) => docs.every((d) => d.synced && !d.hasUnsyncedChanges);

test('tabs of one browser share one connection per document and see each other\'s typing', async () => {
  FakeSocket.all = [];
  const browser = new FakeBrowser();
  const server = new MiniServer('share', 'base', 4);
  const [ta, tb] = [browser.tab(options), browser.tab(options)];
  const a = ta.tabs.open('share'), b = tb.tabs.open('share');
  await until(server, () => a.synced && b.synced, 'both tabs to join');
  assert.equal(a.text, 'base');
  assert.equal(b.text, 'base');
  assert.equal(a.isLeader, true);
  assert.equal(b.isLeader, false);
  for (let i = 0; i < 10; i++) {
    a.insert(0, 'a');
    b.insert(b.text.length, 'b');
    await sleep(1);
  }
  await until(server, () => settled(a, b) && a.text === b.text && server.text === a.text, 'the tabs and the server to agree');
  assert.equal(server.text, 'a'.repeat(10) + 'base' + 'b'.repeat(10));
  assert.equal(FakeSocket.all.length, 1, 'one WebSocket for both tabs');
  assert.equal(tb.sockets.size, 0);
  assert.equal(b.server.rev, server.rev, 'the follower hears the server revision');
  await Promise.all([ta.tabs.destroy(), tb.tabs.destroy()]);
});

test('closing the document in the leading tab hands it to another tab with its unacknowledged typing', async () => {
  FakeSocket.all = [];
  const browser = new FakeBrowser();
  const server = new MiniServer('close', '', 1);
  const [ta, tb] = [browser.tab(options), browser.tab(options)];
  const a = ta.tabs.open('close'), b = tb.tabs.open('close');
  await until(server, () => a.synced && b.synced, 'both tabs to join');
  // The server stops answering: everything typed now is unacknowledged.
  a.insert(0, 'A1 ');
  b.insert(0, 'B1 ');
  await until(server, () => b.text === a.text && b.text.length === 6 && !b._inflight, 'the tabs to agree', { offline: true });
  const [first] = FakeSocket.all;
  await ta.tabs.destroy(); // leaves; the record keeps the rest
  assert.equal(first.readyState, 3, 'the leader\'s socket is closed');
  b.insert(b.text.length, 'B2');
  await until(server, () => settled(b) && server.text === b.text, 'the follower to take over and deliver');
  assert.equal(b.isLeader, true);
  assert.equal(FakeSocket.all.length, 2);
  assert.equal(FakeSocket.all[1].clientId, first.clientId, 'the stored client id: resends deduplicate');
  assert.equal(server.text, 'A1 B1 B2');
  await tb.tabs.destroy();
});

test('a leader tab crashing between storing a tab\'s edit and acknowledging it: the edit lands once', async () => {
  FakeSocket.all = [];
  const browser = new FakeBrowser();
  const server = new MiniServer('crash', 'x', 1);
  const ta = browser.tab(options);
  const a = ta.tabs.open('crash');
  await until(server, () => a.synced, 'the leader to join');
  const tb = browser.tab(options);
  const b = tb.tabs.open('crash');
  await until(server, () => b.synced, 'the follower to join');
  // The next write of the leader's record lands, and the tab dies before
  // anything after it runs.
  const put = browser.storage.put.bind(browser.storage);
  let armed = true;
  browser.storage.put = (key, value) => put(key, value).then(() => {
    if (armed && key[0] === 'doc' && value.inflight) {
      armed = false;
      ta.crash();
    }
  });
  b.insert(1, 'y');
  await until(server, () => b.isLeader && settled(b), 'the follower to take over', { offline: false });
  browser.storage.put = put;
  assert.equal(armed, false, 'the crash happened');
  assert.equal(b.text, 'xy');
  assert.equal(server.text, 'xy');
  assert.equal(server.applied.length, 1, 'applied once');
  await tb.tabs.destroy();
});

test('a document opened after its tabs went shows the stored typing before the server answers, then delivers it', async () => {
  FakeSocket.all = [];
  const browser = new FakeBrowser();
  const server = new MiniServer('reopen', 'hello', 2);
  const ta = browser.tab(options);
  const a = ta.tabs.open('reopen');
  await until(server, () => a.synced, 'the join');
  a.insert(5, ' world');
  await until(server, () => a.server.unsyncedChanges === 1, 'the edit to be out', { offline: true });
  await ta.tabs._entries.get('reopen').hub.doc._recorder.flush();
  ta.crash();

  const tc = browser.tab(options);
  const c = tc.tabs.open('reopen');
  await until(server, () => c.synced, 'the stored text', { offline: true });
  assert.equal(c.text, 'hello world');
  assert.equal(c.hasUnsyncedChanges, true);
  assert.equal(server.text, 'hello');
  await until(server, () => settled(c), 'the delivery');
  assert.equal(server.text, 'hello world');
  assert.equal(server.applied.length, 1);
  await tc.tabs.destroy();
});

// mulberry32: small and seedable.
function seeded(seed) {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

test('three tabs typing while leaders close and crash: nothing applied twice, nothing of an open or closed tab lost (40 seeds)', { timeout: 120000 }, async () => {
  for (let seed = 1; seed <= 40; seed++) {
    FakeSocket.all = [];
    const random = seeded(seed);
    const browser = new FakeBrowser();
    const server = new MiniServer(`seed-${seed}`, '', 1);
    let made = 0;
    const fresh = () => {
      const tab = browser.tab(options);
      tab.doc = tab.tabs.open(`seed-${seed}`);
      tab.typed = [];
      tab.mark = 0x4e00 + 500 * made++; // every character typed is unique
      return tab;
    };
    let tabs = [fresh(), fresh(), fresh()];
    const gone = []; // tabs closed or crashed, with what they typed
    for (let step = 0; step < 60; step++) {
      const tab = tabs[random(tabs.length)];
      const r = random(100);
      if (r < 4 && tabs.length > 1) {
        // The leader goes: closed (everything handed over) or crashed.
        const leader = tabs.find((t) => t.doc.isLeader);
        if (leader) {
          leader.closedGracefully = random(2) === 1;
          if (leader.closedGracefully) await leader.tabs.destroy();
          else leader.crash();
          tabs = tabs.filter((t) => t !== leader);
          gone.push(leader);
          tabs.push(fresh());
        }
      } else if (tab.doc.synced) {
        const ch = String.fromCodePoint(tab.mark + tab.typed.length);
        tab.doc.insert(random(tab.doc.text.length + 1), ch);
        tab.typed.push(ch);
      }
      // The server answers now and then.
      if (random(3) === 0) for (const ws of FakeSocket.all) if (ws.readyState < 3) server.serve(ws, applyWire);
      await sleep(random(4));
    }
    await until(server, () => tabs.every((t) => settled(t.doc) && t.doc.text === server.text), `seed ${seed}: the tabs and the server to agree`);
    const chars = [...server.text];
    assert.equal(new Set(chars).size, chars.length, `seed ${seed}: a character applied twice: ${server.text}`);
    for (const t of tabs) for (const ch of t.typed) assert.ok(chars.includes(ch), `seed ${seed}: ${ch} of an open tab lost`);
    for (const t of gone.filter((g) => g.closedGracefully)) for (const ch of t.typed) assert.ok(chars.includes(ch), `seed ${seed}: ${ch} of a closed tab lost`);
    await Promise.all(tabs.map((t) => t.tabs.destroy()));
  }
});
