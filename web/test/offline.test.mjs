// Typing outlives the tab (TabConnection in @stet/client): Playwright in
// chromium against a real stet serving web/dist. A browser closed with
// typing the server never acknowledged (it was down) delivers it, once,
// when it is opened again after the server is back; two pages of one
// browser on one document share one WebSocket, see each other's typing,
// and closing the page that holds the connection hands it to the other
// without losing a keystroke.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserTests, editorText, launchPersistent, open, signInOn, sleep, synced, typeAtEnd, waitUntil } from './support.mjs';

const env = browserTests();
const { server } = env;

const unsynced = (page) => page.evaluate(() => window.stetDocument.unsyncedChanges);
const sessions = async () => {
  const text = await (await fetch(`${server.base}/metrics`)).text();
  return Number(/^stet_websocket_sessions (\d+)/m.exec(text)?.[1]);
};

test('a page closed with unacked typing while the server is down delivers it when reopened after the server is back', { timeout: 120000 }, async () => {
  const token = await server.login('uma');
  const doc = await server.createDocument(token, { title: 'outage.md' });
  const profile = mkdtempSync(join(tmpdir(), 'stet-profile-'));
  try {
    let browser = await launchPersistent(profile);
    let page = await signInOn(browser.pages()[0] || await browser.newPage(), server, 'uma');
    await open(page, doc.id);
    await typeAtEnd(page, 'written online. ', 10);
    await waitUntil(() => synced(page), 10000, 'the first words acknowledged');

    await server.kill();
    const offline = 'Written with the server down.';
    await typeAtEnd(page, offline, 10);
    assert.equal(await editorText(page), 'written online. ' + offline);
    assert.ok((await unsynced(page)) > 0, 'the server has not acknowledged it');
    await browser.close(); // the whole browser, right after the last keystroke

    await server.start();
    browser = await launchPersistent(profile);
    page = browser.pages()[0] || await browser.newPage();
    page.setDefaultTimeout(20000);
    await page.goto(`${server.base}/#/doc/${doc.id}`); // still signed in: localStorage
    await page.waitForFunction((id) => window.stetDocument?.id === id && window.stetDocument.synced, doc.id);
    await waitUntil(() => synced(page), 20000, 'the stored typing delivered');
    assert.equal(await server.text(doc.id, token), 'written online. ' + offline);
    assert.equal(await editorText(page), 'written online. ' + offline);
    await browser.close();
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
});

test('two pages of one browser share one WebSocket per document; closing the one that holds it loses no typing', { timeout: 120000 }, async () => {
  const token = await server.login('vic');
  const doc = await server.createDocument(token, { title: 'tabs.txt', policy: 'merge' });
  const context = await env.browser.newContext({ viewport: { width: 900, height: 600 }, bypassCSP: true });
  const sockets = [];
  const watch = (page, name) => page.on('websocket', (ws) => sockets.push({ name, url: ws.url(), ws }));
  const first = await context.newPage();
  watch(first, 'first');
  await signInOn(first, server, 'vic');
  await open(first, doc.id);
  const second = await context.newPage();
  watch(second, 'second');
  second.setDefaultTimeout(20000);
  await second.goto(`${server.base}/codemirror.html#/doc/${doc.id}`);
  await second.waitForFunction((id) => window.stetDocument?.id === id && window.stetDocument.synced, doc.id);
  assert.deepEqual(sockets.map((s) => s.name), ['first'], 'one WebSocket, in the page that opened the document first');
  assert.equal(await sessions(), 1);
  assert.equal(await first.evaluate(() => window.stetDocument.isLeader), true);
  assert.equal(await second.evaluate(() => window.stetDocument.isLeader), false);

  await Promise.all([typeAtEnd(first, 'one ', 20), typeAtEnd(second, 'two ', 20)]);
  await waitUntil(async () => (await synced(first)) && (await synced(second)) &&
    (await editorText(first)) === (await editorText(second)), 20000, 'the pages to agree');
  const both = await editorText(second);
  assert.deepEqual([...both].sort().join(''), [...'one two '].sort().join(''));
  assert.equal(await server.text(doc.id, token), both);

  // The second page types on while the first, holding the connection, closes.
  const more = 'the second page keeps typing while the first one closes.';
  const typing = typeAtEnd(second, more, 25);
  await sleep(400);
  await first.close();
  await typing;
  await waitUntil(async () => (await second.evaluate(() => window.stetDocument.isLeader)) && (await synced(second)),
    30000, 'the second page to take over and deliver');
  assert.equal(await editorText(second), both + more);
  assert.equal(await server.text(doc.id, token), both + more);
  assert.deepEqual(sockets.map((s) => s.name), ['first', 'second']);
  assert.equal(await sessions(), 1);
  await context.close();
});
