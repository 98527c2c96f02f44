// Undo and redo in two browsers typing at once: Ctrl+Z on the CodeMirror
// page and on the Monaco page each take back only that person's own
// typing, transformed past the other's, and redo brings it back.
// Playwright in chromium against a real stet serving web/dist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserTests, editorText, open, signIn, sleep, synced, typeAt, typeAtEnd, waitUntil } from './support.mjs';

const env = browserTests();
const { server } = env;

// Both pages show `expected`, have nothing unsent, and the server agrees.
async function agree(pages, docId, token, expected, what) {
  await waitUntil(async () => {
    for (const p of pages)
      if (!(await synced(p)) || (await editorText(p)) !== expected) return false;
    return (await server.text(docId, token)) === expected;
  }, 30000, what);
}

test('Ctrl+Z in two browsers typing at once undoes only each one\'s own text', { timeout: 120000 }, async () => {
  const ana = await server.login('ana');
  await server.login('ben');
  const doc = await server.createDocument(ana, { title: 'undo.txt' });
  await server.rest('POST', `/api/documents/${doc.id}/share`, { user: 'ben', role: 'editor' }, ana);
  await server.rest('PUT', `/api/documents/${doc.id}/text`, { text: 'shared base\n' }, ana);
  const cm = await signIn(env.browser, server, 'ana', '/codemirror.html');
  const mo = await signIn(env.browser, server, 'ben', '/');
  await open(cm, doc.id);
  await open(mo, doc.id);
  const pages = [cm, mo];

  // Both type at once: ana at the start, ben at the end.
  await Promise.all([typeAt(cm, 'Control+Home', 'ana wrote ', 15), typeAtEnd(mo, 'ben wrote', 15)]);
  await agree(pages, doc.id, ana, 'ana wrote shared base\nben wrote', 'both typed');
  await sleep(700); // what ben types next is a step of its own

  // Ana undoes while ben is still typing: only her words go.
  const benTyping = typeAtEnd(mo, ' and more', 40);
  await sleep(120);
  await cm.keyboard.press('Control+z');
  await benTyping;
  await agree(pages, doc.id, ana, 'shared base\nben wrote and more', 'ana\'s undo');

  // Ben's undo takes his last step, then the one before: never ana's base.
  await mo.keyboard.press('Control+z');
  await agree(pages, doc.id, ana, 'shared base\nben wrote', 'ben\'s first undo');
  await mo.keyboard.press('Control+z');
  await agree(pages, doc.id, ana, 'shared base\n', 'ben\'s second undo');
  // Nothing of ana's is on ben's stack: a third undo changes nothing.
  await mo.keyboard.press('Control+z');
  await sleep(300);
  await agree(pages, doc.id, ana, 'shared base\n', 'ben has nothing left to undo');

  // Redo: Ctrl+Shift+Z on CodeMirror, Ctrl+Y on Monaco.
  // (Shift+z as a browser sends it: the key "Z".)
  await cm.keyboard.press('Control+Shift+Z');
  await agree(pages, doc.id, ana, 'ana wrote shared base\n', 'ana\'s redo');
  await mo.keyboard.press('Control+y');
  await agree(pages, doc.id, ana, 'ana wrote shared base\nben wrote', 'ben\'s redo');
  assert.equal(await cm.evaluate(() => window.stetDocument.canRedo), false);
  assert.equal(await mo.evaluate(() => window.stetDocument.canRedo), true);
});
