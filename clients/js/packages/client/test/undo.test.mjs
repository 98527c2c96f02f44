// undo() and redo(): only this client's own edits, transformed past
// everyone else's, against the scripted server of fake_server.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { joined } from './fake_server.mjs';

// The server's side of a remote edit: the next revision, by someone else.
function remote(ws, doc, rev, ops) {
  ws.deliver({ applied: { docId: 'd1', rev: String(rev), ops, author: 'bob', clientId: 'b' } });
}

test('undo takes out only my typing, after others typed around and inside it', { timeout: 5000 }, async () => {
  const { ws, doc, conn } = await joined('abc', undefined, { undoGroupMs: 0 });
  doc.insert(3, 'XYZ'); // abcXYZ
  remote(ws, doc, 4, [{ insert: '12' }]); // 12abc (the server has not seen ours)
  remote(ws, doc, 5, [{ retain: 5 }, { insert: '3' }]); // 12abc3: after the c, where ours went too
  assert.equal(doc.text, '12abc3XYZ');
  const seen = [];
  doc.on('change', (c) => seen.push(c.origin));
  assert.equal(doc.undo(), true);
  assert.equal(doc.text, '12abc3');
  assert.deepEqual(seen, ['undo']);
  assert.equal(doc.canUndo, false);
  assert.equal(doc.undo(), false);
  assert.equal(doc.redo(), true);
  assert.equal(doc.text, '12abc3XYZ');
  conn.destroy();
});

test('undoing a delete restores my erased text where it now is; others inside it stay', { timeout: 5000 }, async () => {
  const { ws, doc, conn } = await joined('hello world', undefined, { undoGroupMs: 0 });
  doc.delete(0, 6); // world
  remote(ws, doc, 4, [{ retain: 11 }, { insert: '!' }]); // hello world! on the server
  assert.equal(doc.text, 'world!');
  doc.undo();
  assert.equal(doc.text, 'hello world!');
  conn.destroy();
});

test('steps: edits within undoGroupMs are one, later ones their own; new typing clears redo', { timeout: 5000 }, async () => {
  const { doc, conn } = await joined('', undefined, { undoGroupMs: 60000 });
  doc.insert(0, 'a');
  doc.insert(1, 'b');
  doc.insert(2, 'c');
  doc.undo();
  assert.equal(doc.text, '');
  doc.redo();
  assert.equal(doc.text, 'abc');
  // After an undo or redo, the next edit starts a step of its own.
  doc.insert(3, 'd');
  assert.equal(doc.canRedo, false);
  doc.undo();
  assert.equal(doc.text, 'abc');
  doc.undo();
  assert.equal(doc.text, '');
  conn.destroy();
});

test('an undo whose text others deleted already is skipped for the step before it', { timeout: 5000 }, async () => {
  const { ws, doc, conn } = await joined('', undefined, { undoGroupMs: 0 });
  doc.insert(0, 'one ');
  let [edit] = ws.take('edit');
  ws.deliver({ ack: { docId: 'd1', clientSeq: String(edit.clientSeq), rev: '4' } });
  doc.insert(4, 'two');
  [edit] = ws.take('edit');
  ws.deliver({ ack: { docId: 'd1', clientSeq: String(edit.clientSeq), rev: '5' } });
  remote(ws, doc, 6, [{ retain: 4 }, { delete: 3 }]); // someone deletes our "two"
  assert.equal(doc.text, 'one ');
  assert.equal(doc.undo(), true); // the step for "two" undoes nothing: "one " goes
  assert.equal(doc.text, '');
  assert.equal(doc.canUndo, false);
  conn.destroy();
});

test('a refused edit leaves nothing to undo twice: undo never puts text back a second time', { timeout: 5000 }, async () => {
  const { ws, doc, conn } = await joined('hello', undefined, { undoGroupMs: 0 });
  doc.edit([{ delete: 5 }, { insert: 'a' }]); // replaces hello
  const [edit] = ws.take('edit');
  ws.deliver({ error: { docId: 'd1', code: 'document_too_large', message: 'too large', clientSeq: String(edit.clientSeq) } });
  assert.equal(doc.text, 'hello'); // the refusal undid it
  doc.undo();
  assert.equal(doc.text, 'hello');
  conn.destroy();
});

test('a conflict that restored our deleted text leaves no undo that would restore it again', { timeout: 5000 }, async () => {
  const { ws, doc, conn } = await joined('hello world', undefined, { undoGroupMs: 0 });
  doc.delete(0, 11);
  const [edit] = ws.take('edit');
  ws.deliver({ ack: { docId: 'd1', clientSeq: String(edit.clientSeq), rev: '4' } });
  // A later edit (lww) replaced "world" with "there": the server put our
  // deleted text back with it, and tells us our delete lost.
  ws.deliver({ applied: { docId: 'd1', rev: '5', ops: [{ insert: 'hello there' }], author: 'bob', clientId: 'b' } });
  ws.deliver({ conflict: { docId: 'd1', clientSeq: String(edit.clientSeq), rev: '5', dropped: 'hello world' } });
  assert.equal(doc.text, 'hello there');
  assert.equal(doc.undo(), false);
  assert.equal(doc.text, 'hello there');
  conn.destroy();
});

test('joining again starts a fresh history: conflicts missed while away are not replayed', { timeout: 5000 }, async () => {
  const { ws, doc, conn } = await joined('hello world', undefined, { undoGroupMs: 0 });
  doc.delete(0, 6);
  const [edit] = ws.take('edit');
  ws.deliver({ ack: { docId: 'd1', clientSeq: String(edit.clientSeq), rev: '4' } });
  assert.equal(doc.canUndo, true);
  doc._detached();
  ws.deliver({ snapshot: { docId: 'd1', rev: '4', resumed: true } });
  ws.deliver({ applied: { docId: 'd1', rev: '5', ops: [{ insert: 'hello ' }], author: 'bob', clientId: 'b' } });
  assert.equal(doc.text, 'hello world');
  assert.equal(doc.undo(), false);
  assert.equal(doc.text, 'hello world');
  conn.destroy();
});

// A small deterministic generator (mulberry32).
function rng(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('property: undoing all my edits leaves exactly everyone else\'s typing, in order', { timeout: 20000 }, async () => {
  for (let seed = 1; seed <= 150; seed++) {
    const r = rng(seed);
    const pick = (n) => Math.floor(r() * n);
    const original = 'abcdefghij';
    const { ws, doc, conn } = await joined(original, undefined, { undoGroupMs: r() < 0.5 ? 0 : 60000 });
    let server = original; // the server's text: others' edits only (ours stay unacked)
    let rev = 3;
    const theirs = [];
    for (let step = 0; step < 25; step++) {
      const len = [...doc.text].length;
      if (r() < 0.5) {
        // Mine: upper-case inserts, or deletes of anything (theirs too).
        if (len > 0 && r() < 0.4) {
          const at = pick(len);
          doc.delete(at, 1 + pick(Math.min(3, len - at)));
        } else {
          doc.insert(pick(len + 1), String.fromCharCode(65 + pick(26)).repeat(1 + pick(3)));
        }
      } else {
        // Theirs: digit inserts at any place of the server's text.
        const sl = [...server].length, at = pick(sl + 1), piece = String(pick(10)).repeat(1 + pick(2));
        theirs.push(piece);
        server = [...server].slice(0, at).join('') + piece + [...server].slice(at).join('');
        remote(ws, doc, ++rev, at ? [{ retain: at }, { insert: piece }] : [{ insert: piece }]);
      }
    }
    const before = doc.text;
    while (doc.undo()) { /* all of mine */ }
    // My text is gone and my deletes are back; theirs all stay. (Where
    // text of theirs that I had deleted comes back beside text they typed
    // at the same place, the order between the two is OT's tie rule.)
    const digits = (t) => [...t.replace(/[^0-9]/g, '')].sort().join('');
    assert.equal(doc.text.replace(/[0-9]/g, ''), original, `seed ${seed}`);
    assert.equal(digits(doc.text), digits(server), `seed ${seed}`);
    assert.equal(theirs.join('').length, server.replace(/[^0-9]/g, '').length);
    // Redone with nobody typing in between: exactly the text before.
    while (doc.redo()) { /* all of it */ }
    assert.equal(doc.text, before, `seed ${seed}`);
    conn.destroy();
  }
});
