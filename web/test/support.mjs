// What the browser tests share: a real stet serving web/dist (the harness
// of the client packages, clients/js/testing), Debian's chromium driven by
// playwright-core, and the steps of a person using a page.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';
import { StetServer, password, root, sleep, waitUntil } from '../../clients/js/testing/stet-server.mjs';

export { sleep, waitUntil };
export const artifacts = join(root, 'web/test-artifacts');

export function webServer() {
  return new StetServer({ webRoot: join(root, 'web/dist') });
}

/**
 * This file's real server and chromium, started before its tests and
 * stopped after them: `env.server`, and `env.browser` once started.
 */
export function browserTests() {
  const env = { server: webServer(), browser: null };
  before(async () => {
    await env.server.start();
    env.browser = await launch();
  }, { timeout: 60000 });
  after(async () => {
    await env.browser?.close();
    await env.server.stop();
  });
  return env;
}

const chromiumOptions = {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  timeout: 30000,
};
// The page's CSP forbids eval; Playwright's waitForFunction needs it (tests only).
const contextOptions = { viewport: { width: 900, height: 600 }, bypassCSP: true };

export async function launch() {
  mkdirSync(artifacts, { recursive: true });
  return chromium.launch(chromiumOptions);
}

/**
 * A browser whose profile is folder `dir`: IndexedDB and localStorage
 * outlive closing it, and a launch on the same folder finds them.
 */
export function launchPersistent(dir) {
  return chromium.launchPersistentContext(dir, { ...chromiumOptions, ...contextOptions });
}

/** A new browser context signed in as `name` (registered before) on `path` ('/' is Monaco, '/codemirror.html' CodeMirror). */
export async function signIn(browser, server, name, path = '/') {
  const context = await browser.newContext(contextOptions);
  return signInOn(await context.newPage(), server, name, path);
}

/** Signs `page` in as `name` on `path` (as signIn). */
export async function signInOn(page, server, name, path = '/') {
  page.setDefaultTimeout(20000);
  page.on('pageerror', (e) => console.error(`[${name}] page error:`, e.message));
  await page.goto(server.base + path);
  await page.fill('input[name=username]', name);
  await page.fill('input[name=password]', password);
  await page.click('button[value=login]');
  await page.waitForSelector('#docs');
  return page;
}

/** Opens document `id` on the page's editor and waits for its snapshot. */
export async function open(page, id) {
  await page.evaluate((hash) => { location.hash = hash; }, `#/doc/${id}`);
  await page.waitForFunction((docId) => window.stetDocument?.id === docId && window.stetDocument.synced, id);
}

export const editorText = (page) => page.evaluate(() => window.stetView.text());
export const synced = (page) => page.evaluate(() => window.stetDocument.synced && !window.stetDocument.hasUnsyncedChanges);

/** Clicks into the editor (Monaco or CodeMirror), presses `where`, types `text`. */
export async function typeAt(page, where, text, delay) {
  await page.click('#editor .view-lines, #editor .cm-content');
  await page.keyboard.press(where);
  await page.keyboard.type(text, { delay });
}
export const typeAtEnd = (page, text, delay) => typeAt(page, 'Control+End', text, delay);

/** The pages' screenshots side by side, as one picture in web/test-artifacts. */
export async function sideBySide(browser, pages, name) {
  const shots = [];
  for (const p of pages) shots.push((await p.screenshot()).toString('base64'));
  const context = await browser.newContext({ viewport: { width: 920 * pages.length, height: 620 } });
  const page = await context.newPage();
  await page.setContent(`<body style="margin:0;display:flex;gap:20px;background:#888">${shots
    .map((s) => `<img src="data:image/png;base64,${s}" width="900">`).join('')}</body>`);
  await page.screenshot({ path: join(artifacts, name) });
  await context.close();
}
