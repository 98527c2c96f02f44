// Comment threads in the browser: a Monaco page and a CodeMirror page on
// one document. One selects text and comments; the other sees the
// highlight and the thread at once, replies, resolves; typing before and
// inside the range keeps the highlight on the same words; deleting them
// marks the thread detached on both; a commenter comments, and typing in
// their editor changes nothing. Playwright in chromium against a real stet
// serving web/dist.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserTests, editorText, open, sideBySide, signIn, synced, typeAt, typeAtEnd, waitUntil } from './support.mjs';

const env = browserTests();
const { server } = env;

// The highlighted texts on a page, in document order: Monaco's decorations,
// or CodeMirror's marks (one thread's pieces joined, cursor labels left out).
const highlighted = (page) => page.evaluate(() => {
  const editor = window.stetEditor;
  if (editor.getModel) {
    const model = editor.getModel();
    return model.getAllDecorations().filter((d) => /\bstet-comment\b/.test(d.options.className || ''))
      .sort((x, y) => x.range.startLineNumber - y.range.startLineNumber || x.range.startColumn - y.range.startColumn)
      .map((d) => model.getValueInRange(d.range));
  }
  const byThread = new Map();
  for (const mark of document.querySelectorAll('#editor .cm-stet-comment')) {
    const copy = mark.cloneNode(true);
    for (const label of copy.querySelectorAll('.cm-stet-caret')) label.remove();
    byThread.set(mark.dataset.thread, (byThread.get(mark.dataset.thread) || '') + copy.textContent);
  }
  return [...byThread.values()];
});

// What the panel shows: per thread, its quote, state classes and messages.
const panel = (page) => page.$$eval('#comments .thread', (threads) => threads.map((t) => ({
  quote: t.querySelector('.quote').textContent,
  detached: t.classList.contains('detached'),
  resolved: t.classList.contains('resolved'),
  entries: [...t.querySelectorAll('.entry')].map((e) => `${e.querySelector('.author').textContent}: ${e.querySelector('.text').textContent}`),
})));

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function until(what, fn, ms = 15000) {
  await waitUntil(fn, ms, what);
}

async function selectFromStart(page, skip, count) {
  await page.click('#editor .view-lines, #editor .cm-content');
  await page.keyboard.press('Control+Home');
  for (let i = 0; i < skip; i++) await page.keyboard.press('ArrowRight');
  for (let i = 0; i < count; i++) await page.keyboard.press('Shift+ArrowRight');
}

async function comment(page, text) {
  await page.fill('.comment-new textarea', text);
  await page.click('.comment-new button');
}

test('two people comment live, the highlight follows its words, a commenter cannot edit', { timeout: 180000 }, async () => {
  const alice = await server.login('alice');
  for (const name of ['bob', 'carol']) await server.login(name);
  const doc = await server.createDocument(alice, { title: 'fox.txt', policy: 'merge' });
  await server.rest('POST', `/api/documents/${doc.id}/share`, { user: 'bob', role: 'editor' }, alice);
  await server.rest('POST', `/api/documents/${doc.id}/share`, { user: 'carol', role: 'commenter' }, alice);
  const a = await signIn(env.browser, server, 'alice', '/');
  const b = await signIn(env.browser, server, 'bob', '/codemirror.html');
  await open(a, doc.id);
  await open(b, doc.id);
  const text = 'The quick brown fox jumps over the lazy dog.';
  await typeAtEnd(a, text, 0);
  await until('the text at bob', async () => (await editorText(b)) === text);

  // Alice selects "brown fox" with the keyboard and comments on it.
  await selectFromStart(a, 10, 9);
  await comment(a, 'Which fox?');
  const first = { quote: 'brown fox', detached: false, resolved: false, entries: ['alice: Which fox?'] };
  await until('the thread and its highlight at bob', async () =>
    same(await panel(b), [first]) && same(await highlighted(b), ['brown fox']));
  assert.deepEqual(await highlighted(a), ['brown fox']);
  assert.equal(await a.inputValue('.comment-new textarea'), '', 'the form is cleared once sent');

  // Bob replies; alice sees it.
  await b.fill('#comments .thread .reply textarea', 'The quick one');
  await b.click('#comments .thread .reply button');
  await until('the reply at alice', async () => same((await panel(a))[0]?.entries, ['alice: Which fox?', 'bob: The quick one']));

  // Typing before the range moves the highlight; typing inside extends it.
  await typeAt(a, 'Control+Home', 'Look: ', 10);
  await until('the highlight moved at bob', async () => (await editorText(b)).startsWith('Look: ') &&
    same(await highlighted(b), ['brown fox']) && same(await highlighted(a), ['brown fox']));
  await b.click('#editor .cm-content');
  await b.keyboard.press('Control+Home');
  for (let i = 0; i < 'Look: The quick brown '.length; i++) await b.keyboard.press('ArrowRight');
  await b.keyboard.type('red ', { delay: 10 });
  await until('the wider highlight at both', async () => (await synced(a)) && (await synced(b)) &&
    same(await highlighted(a), ['brown red fox']) && same(await highlighted(b), ['brown red fox']));
  await until('the panel quoting the wider range at alice', async () => (await panel(a))[0]?.quote === 'brown red fox');
  await sideBySide(env.browser, [a, b], 'comments.png');

  // Resolve and reopen: a resolved thread folds and loses its highlight.
  await b.click('#comments .thread .resolve');
  await until('resolved at alice', async () => (await panel(a))[0]?.resolved && same(await highlighted(a), []));
  assert.equal(await a.locator('#comments .thread .entries').isVisible(), false, 'folded');
  assert.equal(await a.textContent('#comments .thread .resolve'), 'Reopen');
  await a.click('#comments .thread .resolve');
  await until('reopened at bob', async () => (await panel(b))[0]?.resolved === false && same(await highlighted(b), ['brown red fox']));

  // A click on the thread selects its text; deleting it detaches the thread at both.
  await a.click('#comments .thread .quote');
  const range = await a.evaluate(() => [window.stetView.selection(), window.stetDocument.comments[0]]);
  assert.deepEqual([range[0].start, range[0].end], [range[1].start, range[1].end]);
  await a.keyboard.press('Delete');
  const detached = { quote: 'its text was deleted', detached: true, resolved: false, entries: ['alice: Which fox?', 'bob: The quick one'] };
  await until('detached at both', async () => same(await panel(a), [detached]) && same(await panel(b), [detached]) &&
    same(await highlighted(a), []) && same(await highlighted(b), []));
  assert.equal(await editorText(b), 'Look: The quick  jumps over the lazy dog.');

  // Carol, a commenter: her editor is read-only, her comment reaches both.
  const c = await signIn(env.browser, server, 'carol', '/');
  await open(c, doc.id);
  assert.equal(await c.textContent('#role'), 'commenter');
  await c.click('#editor .view-lines');
  await c.keyboard.press('Control+End');
  await c.keyboard.press('ArrowLeft');
  for (let i = 0; i < 'lazy dog'.length; i++) await c.keyboard.press('Shift+ArrowLeft');
  await comment(c, 'Which dog?');
  const second = { quote: 'lazy dog', detached: false, resolved: false, entries: ['carol: Which dog?'] };
  await until('carol\'s thread at alice and bob', async () => same(await panel(a), [detached, second]) && same(await panel(b), [detached, second]));
  assert.deepEqual(await highlighted(b), ['lazy dog']);

  // Her typing changes nothing: once alice's later typing has reached her,
  // her text is everyone's, without hers.
  await typeAtEnd(c, ' carol was here', 5);
  await typeAtEnd(a, ' Done.', 5);
  await until('alice\'s typing at carol', async () => (await editorText(c)).endsWith(' Done.'));
  const final = 'Look: The quick  jumps over the lazy dog. Done.';
  assert.equal(await editorText(c), final);
  assert.equal(await server.text(doc.id, alice), final);
  // Even with the editor made writable, the server refuses her edit and it is undone.
  await c.evaluate(() => window.stetEditor.updateOptions({ readOnly: false }));
  await typeAt(c, 'Control+Home', 'X', 0);
  await until('carol\'s edit refused and undone', async () => (await c.textContent('#toasts')).includes('forbidden') &&
    (await synced(c)) && (await editorText(c)) === final);
  assert.equal(await server.text(doc.id, alice), final);

  // The owner deletes carol's thread.
  a.once('dialog', (d) => d.accept());
  await a.click('#comments .thread:nth-child(2) .delete');
  await until('the thread gone at carol', async () => same(await panel(c), [detached]));
  const listed = await server.rest('GET', `/api/documents/${doc.id}/comments`, null, alice);
  assert.equal(listed.status, 200);
  assert.deepEqual(listed.body.threads.map((t) => [!!t.detached, t.entries.length]), [[true, 2]]);
});
