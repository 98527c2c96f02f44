// Browser tests of the Monaco page: Playwright (playwright-core) driving
// Debian's chromium against a real stet serving web/dist. Two people typing
// at once end with the server's text; killing and restarting the server
// while one keeps typing loses no keystroke; a viewer cannot type.
// Screenshots of the two editors side by side land in web/test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, browserTests, editorText, open, sideBySide, signIn, sleep, synced, typeAt, typeAtEnd, waitUntil } from './support.mjs';

const env = browserTests();
const { server } = env;

test('two people typing at once end with the same text as the server', { timeout: 120000 }, async () => {
  const alice = await server.login('alice');
  await server.login('bob');
  const doc = await server.createDocument(alice, { title: 'notes.md', policy: 'merge' });
  await server.rest('POST', `/api/documents/${doc.id}/share`, { user: 'bob', role: 'editor' }, alice);
  const [a, b] = [await signIn(env.browser, server, 'alice'), await signIn(env.browser, server, 'bob')];
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
  const text = await server.text(doc.id, alice);
  assert.equal(await editorText(a), text);
  // Merge policy: every typed character is there.
  assert.deepEqual([...text].sort(), [...(aText + bText + '\n')].sort());
  assert.ok(text.startsWith(aText) && text.endsWith(bText), text);
  await sideBySide(env.browser, [a, b], 'two-editors.png');
  writeFileSync(join(artifacts, 'two-editors.txt'), text);
});

test('every keystroke lands when the server is killed and restarted mid-typing', { timeout: 120000 }, async () => {
  const token = await server.login('carla');
  const doc = await server.createDocument(token, { title: 'outage.txt' });
  const page = await signIn(env.browser, server, 'carla');
  await open(page, doc.id);
  const typed = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2);
  const typing = typeAtEnd(page, typed, 40);
  await sleep(700);
  await server.kill();
  await sleep(1200); // typing goes on while the server is down
  await server.start();
  await typing;
  await waitUntil(() => synced(page), 60000, 'the client to resync after the restart');
  assert.equal(await server.text(doc.id, token), typed);
  assert.equal(await editorText(page), typed);
});

test('a viewer cannot type', { timeout: 60000 }, async () => {
  const owner = await server.login('olga');
  await server.login('victor');
  const doc = await server.createDocument(owner, { title: 'read-only.py' });
  await server.rest('POST', `/api/documents/${doc.id}/share`, { user: 'victor', role: 'viewer' }, owner);
  const o = await signIn(env.browser, server, 'olga');
  await open(o, doc.id);
  await typeAtEnd(o, 'print("hello")\n', 5);
  await waitUntil(() => synced(o), 20000, 'owner edit');
  const v = await signIn(env.browser, server, 'victor');
  await open(v, doc.id);
  assert.equal(await editorText(v), 'print("hello")\n');
  await typeAtEnd(v, 'import os\n', 5);
  await sleep(500);
  assert.equal(await editorText(v), 'print("hello")\n');
  assert.equal(await server.text(doc.id, owner), 'print("hello")\n');
});
