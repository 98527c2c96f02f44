// Named versions in the history panel: save one, type on, open it and
// restore it; the restore reaches the other person's editor as a new
// revision. Playwright in chromium against a real stet serving web/dist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserTests, editorText, open, signIn, synced, typeAtEnd, waitUntil } from './support.mjs';

const env = browserTests();
const { server } = env;

test('a named version is saved, listed and restored from the history panel', { timeout: 120000 }, async () => {
  const ana = await server.login('ana');
  await server.login('ben');
  const doc = await server.createDocument(ana, { title: 'versions.txt' });
  await server.rest('POST', `/api/documents/${doc.id}/share`, { user: 'ben', role: 'editor' }, ana);
  const page = await signIn(env.browser, server, 'ana', '/');
  const other = await signIn(env.browser, server, 'ben', '/codemirror.html');
  await open(page, doc.id);
  await open(other, doc.id);

  await typeAtEnd(page, 'the first draft', 0);
  await waitUntil(() => synced(page), 10000, 'the draft saved');
  page.once('dialog', (d) => d.accept('Draft one'));
  await page.click('#version-save');
  const item = page.locator('#versions li', { hasText: 'Draft one' });
  await item.waitFor();

  await typeAtEnd(page, ', then more', 0);
  await waitUntil(async () => (await editorText(other)) === 'the first draft, then more', 10000, 'the typing to arrive');
  await item.click();
  await page.locator('.modal .restore').click();
  await waitUntil(async () => (await editorText(page)) === 'the first draft' &&
    (await editorText(other)) === 'the first draft', 15000, 'the restore in both editors');
  assert.equal(await server.text(doc.id, ana), 'the first draft');
  // A new revision, not a rewritten one: the text before it is still there.
  const { rev } = (await server.rest('GET', `/api/documents/${doc.id}`, undefined, ana)).body;
  const before = await server.rest('GET', `/api/documents/${doc.id}?rev=${rev - 1}`, undefined, ana);
  assert.equal(before.body.text, 'the first draft, then more');
});
