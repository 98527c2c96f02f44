// Browser tests: Playwright (playwright-core) driving Debian's chromium
// against a real build/stet serving web/dist. Two people typing at once end
// with the server's text; killing and restarting the server while one keeps
// typing loses no keystroke; a viewer cannot type. Screenshots of the two
// editors side by side land in web/test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../..', import.meta.url));
const binary = process.env.STET_BINARY || join(root, 'build/stet');
const artifacts = join(root, 'web/test-artifacts');
const dataDir = mkdtempSync(join(tmpdir(), 'stet-e2e-'));
const secret = 'e2e-test-secret-0123456789abcdef012345';
let port, base, server, browser;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function startServer() {
  server = spawn(binary, ['serve', '--listen', `127.0.0.1:${port}`, '--data', dataDir,
    '--web-root', join(root, 'web/dist')], { env: { ...process.env, STET_AUTH_SECRET: secret }, stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {}
    await sleep(50);
  }
  throw new Error('stet did not start');
}

async function rest(method, path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, body: r.status === 204 ? null : await r.json() };
}

async function account(name) {
  await rest('POST', '/api/register', { username: name, password: 'correct horse battery' });
  return (await rest('POST', '/api/login', { username: name, password: 'correct horse battery' })).body.token;
}

async function signIn(name) {
  // The page's CSP forbids eval; Playwright's waitForFunction needs it (tests only).
  const context = await browser.newContext({ viewport: { width: 900, height: 600 }, bypassCSP: true });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  await page.goto(base + '/');
  await page.fill('input[name=username]', name);
  await page.fill('input[name=password]', 'correct horse battery');
  await page.click('button[value=login]');
  await page.waitForSelector('#docs');
  return page;
}

async function open(page, id) {
  await page.goto(`${base}/#/doc/${id}`);
  await page.waitForFunction(() => window.stetDocument && window.stetDocument.known);
}

const editorText = (page) => page.evaluate(() => window.stetEditor.getModel().getValue());
const synced = (page) => page.evaluate(() => window.stetDocument.known && window.stetDocument.pending() === 0);

async function typeAt(page, where, text, delay) {
  await page.click('#editor .view-lines');
  await page.keyboard.press(where);
  await page.keyboard.type(text, { delay });
}
const typeAtEnd = (page, text, delay) => typeAt(page, 'Control+End', text, delay);

async function waitUntil(fn, ms = 30000, what = 'condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

before(async () => {
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await startServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(artifacts, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGKILL');
});

test('two people typing at once end with the same text as the server', async () => {
  const alice = await account('alice');
  await account('bob');
  const doc = (await rest('POST', '/api/documents', { title: 'notes.md', policy: 'merge' }, alice)).body;
  await rest('POST', `/api/documents/${doc.id}/share`, { user: 'bob', role: 'editor' }, alice);
  const [a, b] = [await signIn('alice'), await signIn('bob')];
  await open(a, doc.id);
  await open(b, doc.id);
  // One at the top, one at the bottom, at the same time.
  await typeAtEnd(a, '\n', 0);
  await waitUntil(async () => (await editorText(b)) === '\n', 10000, 'the first line');
  const aText = '# Alice was here\n'.repeat(3);
  const bText = 'bob types é and 😀 too. '.repeat(3);
  await Promise.all([typeAt(a, 'Control+Home', aText, 15), typeAtEnd(b, bText, 15)]);
  await waitUntil(async () => (await synced(a)) && (await synced(b)) &&
    (await editorText(a)) === (await editorText(b)), 30000, 'both editors to agree');
  const server = (await rest('GET', `/api/documents/${doc.id}`, null, alice)).body.text;
  assert.equal(await editorText(a), server);
  // Merge policy: every typed character is there.
  assert.deepEqual([...server].sort(), [...(aText + bText + '\n')].sort());
  assert.ok(server.startsWith(aText) && server.endsWith(bText), server);

  // Side by side, as one picture.
  const shots = [await a.screenshot(), await b.screenshot()].map((png) => png.toString('base64'));
  const page = await (await browser.newContext({ viewport: { width: 1820, height: 620 } })).newPage();
  await page.setContent(`<body style="margin:0;display:flex;gap:20px;background:#888">${shots
    .map((s) => `<img src="data:image/png;base64,${s}" width="900">`).join('')}</body>`);
  await page.screenshot({ path: join(artifacts, 'two-editors.png') });
  writeFileSync(join(artifacts, 'two-editors.txt'), server);
});

test('every keystroke lands when the server is killed and restarted mid-typing', async () => {
  const token = await account('carla');
  const doc = (await rest('POST', '/api/documents', { title: 'outage.txt' }, token)).body;
  const page = await signIn('carla');
  await open(page, doc.id);
  const typed = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2);
  const typing = typeAtEnd(page, typed, 40);
  await sleep(700);
  server.kill('SIGKILL');
  await sleep(1200); // typing goes on while the server is down
  await startServer();
  await typing;
  await waitUntil(() => synced(page), 60000, 'the client to resync after the restart');
  const text = (await rest('GET', `/api/documents/${doc.id}`, null, token)).body.text;
  assert.equal(text, typed);
  assert.equal(await editorText(page), typed);
});

test('a viewer cannot type', async () => {
  const owner = await account('olga');
  await account('victor');
  const doc = (await rest('POST', '/api/documents', { title: 'read-only.py' }, owner)).body;
  await rest('POST', `/api/documents/${doc.id}/share`, { user: 'victor', role: 'viewer' }, owner);
  const o = await signIn('olga');
  await open(o, doc.id);
  await typeAtEnd(o, 'print("hello")\n', 5);
  await waitUntil(() => synced(o), 20000, 'owner edit');
  const v = await signIn('victor');
  await open(v, doc.id);
  assert.equal(await editorText(v), 'print("hello")\n');
  await typeAtEnd(v, 'import os\n', 5);
  await sleep(500);
  assert.equal(await editorText(v), 'print("hello")\n');
  assert.equal((await rest('GET', `/api/documents/${doc.id}`, null, owner)).body.text, 'print("hello")\n');
});
