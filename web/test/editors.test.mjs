// The two editor pages on one document: a CodeMirror page (@stet/codemirror)
// and a Monaco page (@stet/monaco) typing at once end with the server's
// text, each shows the other's cursor with the other's name where the other
// is, and the cursor goes when the other leaves. Playwright in chromium
// against a real stet serving web/dist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserTests, editorText, open, sideBySide, signIn, synced, typeAt, typeAtEnd, waitUntil } from './support.mjs';

const env = browserTests();
const { server } = env;

const codePoints = (s) => [...s].length;
const cursorOf = (page, user) => page.evaluate((u) =>
  window.stetDocument.participants.find((p) => p.user === u)?.cursor ?? null, user);

test('a CodeMirror page and a Monaco page edit one document at once and see each other', { timeout: 120000 }, async () => {
  const ana = await server.login('ana');
  await server.login('ben');
  const doc = await server.createDocument(ana, { title: 'both.txt' });
  await server.rest('POST', `/api/documents/${doc.id}/share`, { user: 'ben', role: 'editor' }, ana);
  const cm = await signIn(env.browser, server, 'ana', '/codemirror.html');
  const mo = await signIn(env.browser, server, 'ben', '/');
  await open(cm, doc.id);
  await open(mo, doc.id);
  assert.equal(await cm.locator('#editor .cm-editor').count(), 1, 'CodeMirror on codemirror.html');
  assert.equal(await mo.locator('#editor .monaco-editor').count(), 1, 'Monaco on index.html');

  await typeAtEnd(cm, 'middle\n', 0);
  await waitUntil(async () => (await editorText(mo)) === 'middle\n', 10000, 'the first line in Monaco');
  // Characters outside the BMP: two UTF-16 units in the editors, one code point in stet.
  const anaText = 'ana é😀 was here ';
  const benText = 'ben 𝄞 types too';
  await Promise.all([typeAt(cm, 'Control+Home', anaText, 20), typeAtEnd(mo, benText, 20)]);
  await waitUntil(async () => (await synced(cm)) && (await synced(mo)) &&
    (await editorText(cm)) === (await editorText(mo)), 30000, 'both editors to agree');
  const text = await server.text(doc.id, ana);
  assert.equal(await editorText(cm), text);
  assert.equal(text, `${anaText}middle\n${benText}`);

  // Each sees the other's cursor, named.
  const anaCaret = mo.locator('.stet-remote-label', { hasText: 'ana (' });
  const benCaret = cm.locator('.cm-stet-caret .cm-stet-label', { hasText: 'ben (' });
  await waitUntil(async () => (await anaCaret.count()) === 1 && (await benCaret.count()) === 1, 15000, 'the remote cursors');
  assert.ok(await anaCaret.isVisible(), 'ana\'s name in Monaco');
  assert.ok(await benCaret.isVisible(), 'ben\'s name in CodeMirror');
  // Where each typed last, once each moves with the document quiet (a
  // position sent while the other types can count text the other has
  // added since: presence carries no revision).
  for (const page of [cm, mo]) {
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowRight');
  }
  await waitUntil(async () => (await cursorOf(mo, 'ana')) === codePoints(anaText) &&
    (await cursorOf(cm, 'ben')) === codePoints(text), 10000, 'the cursors where each typed last');
  // In the DOM: ana's caret at the end of her text on line 1 in Monaco.
  const caretAt = await mo.evaluate(() => {
    const d = window.stetEditor.getModel().getAllDecorations().find((x) => /stet-remote-cursor/.test(x.options.beforeContentClassName || ''));
    return d && [d.range.startLineNumber, d.range.startColumn];
  });
  assert.deepEqual(caretAt, [1, anaText.length + 1], 'Monaco counts UTF-16 units: 😀 is two');
  await sideBySide(env.browser, [cm, mo], 'codemirror-and-monaco.png');

  // Ben leaves the document: his cursor goes from ana's page.
  await mo.evaluate(() => { location.hash = '#/'; });
  await waitUntil(async () => (await benCaret.count()) === 0, 15000, 'ben\'s cursor to go');
  assert.equal(await cm.locator('.cm-stet-caret').count(), 0);
});
