// CodeMirror change sets and stet ops over texts with characters outside
// the BMP, where UTF-16 offsets and code points differ; and the cursor
// field mapping remote cursors through edits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeSet, EditorState, Text } from '@codemirror/state';
import { Op, apply } from '@stet/client';
import { changesFromOps, opFromChangeSet, remoteCursorsField, setRemoteCursors } from '../src/index.js';

const alphabet = ['a', 'b', 'é', '😀', '\n', ' ', '𝄞'];
// mulberry32: small, seedable, and no short cycles in the low bits.
function seeded(seed) {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}
const random = seeded(42);
const randomText = (n) => Array.from({ length: n }, () => alphabet[random(alphabet.length)]).join('');

// Random non-overlapping changes, at code point boundaries, in UTF-16 offsets.
function randomChanges(text) {
  const bounds = [0];
  for (let i = 0; i < text.length; i++) if (!(text.charCodeAt(i) >= 0xdc00 && text.charCodeAt(i) <= 0xdfff)) bounds.push(i);
  bounds.push(text.length);
  const picks = [...new Set(Array.from({ length: 4 }, () => bounds[random(bounds.length)]))].sort((x, y) => x - y);
  const changes = [];
  for (let i = 0; i + 1 < picks.length; i += 2) changes.push({ from: picks[i], to: picks[i + 1], insert: random(2) ? randomText(random(4)) : '' });
  return changes;
}

test('a change set and its op do the same to a text, both ways', { timeout: 10000 }, () => {
  for (let i = 0; i < 500; i++) {
    const before = randomText(random(30));
    const doc = Text.of(before.split('\n'));
    const set = ChangeSet.of(randomChanges(before), doc.length);
    const after = set.apply(doc).toString();
    const op = opFromChangeSet(set, doc);
    assert.equal(apply(before, op), after);
    const back = ChangeSet.of(changesFromOps(before, op.toWire()), doc.length);
    assert.equal(back.apply(doc).toString(), after);
  }
});

test('a delete carries the removed text, so a refused edit can be undone', () => {
  const doc = Text.of(['a😀b']);
  const op = opFromChangeSet(ChangeSet.of([{ from: 1, to: 3 }], doc.length), doc);
  assert.deepEqual(op.toWire(true), [{ retain: 1 }, { delete: 1, deleted: '😀' }]);
});

test('remote cursors are replaced by the effect and mapped through edits', () => {
  let state = EditorState.create({ doc: 'hello world', extensions: [remoteCursorsField] });
  state = state.update({ effects: setRemoteCursors.of([{ id: 'b', name: 'bob (b1)', color: '#123456', head: 6, anchor: 11 }]) }).state;
  const spans = () => {
    const out = [];
    state.field(remoteCursorsField).between(0, state.doc.length, (from, to, d) => { out.push([from, to, d.spec.widget ? 'caret' : 'selection']); });
    return out.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  };
  assert.deepEqual(spans(), [[6, 6, 'caret'], [6, 11, 'selection']]);
  state = state.update({ changes: { from: 0, insert: '>> ' } }).state;
  assert.deepEqual(spans(), [[9, 9, 'caret'], [9, 14, 'selection']]);
  state = state.update({ effects: setRemoteCursors.of([]) }).state;
  assert.deepEqual(spans(), []);
});

test('an insert and a delete at one place make one replacement', () => {
  const op = new Op().retain(1).insert('X').erase(2, '😀b');
  assert.deepEqual(changesFromOps('a😀bc', op.toWire()), [{ from: 1, insert: 'X' }, { from: 1, to: 4 }]);
  const set = ChangeSet.of(changesFromOps('a😀bc', op.toWire()), 5);
  assert.equal(set.apply(Text.of(['a😀bc'])).toString(), 'aXc');
});
