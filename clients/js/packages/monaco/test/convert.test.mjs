// Monaco content changes and stet ops over texts with characters outside
// the BMP, where UTF-16 offsets and code points differ. A small stand-in
// for a model's getPositionAt/applyEdits checks the edits Monaco receives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Op, apply } from '@stet/client';
import { monacoEditsFromOps, opFromMonacoChanges } from '../src/convert.js';

// Monaco's line/column (1-based, UTF-16 columns) of a UTF-16 offset, and back.
function positionAt(text, u) {
  const lines = text.slice(0, u).split('\n');
  return { lineNumber: lines.length, column: lines[lines.length - 1].length + 1 };
}
function offsetAt(text, { lineNumber, column }) {
  const lines = text.split('\n');
  let u = 0;
  for (let i = 0; i < lineNumber - 1; i++) u += lines[i].length + 1;
  return u + column - 1;
}
// model.applyEdits: every range over the text before the edits.
function applyEdits(text, edits) {
  const spans = edits.map((e) => [offsetAt(text, { lineNumber: e.range.startLineNumber, column: e.range.startColumn }),
    offsetAt(text, { lineNumber: e.range.endLineNumber, column: e.range.endColumn }), e.text]).sort((x, y) => y[0] - x[0]);
  for (const [from, to, insert] of spans) text = text.slice(0, from) + insert + text.slice(to);
  return text;
}

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
const random = seeded(7);
const randomText = (n) => Array.from({ length: n }, () => alphabet[random(alphabet.length)]).join('');

test('remote ops become Monaco edits that give the same text', { timeout: 10000 }, () => {
  for (let i = 0; i < 500; i++) {
    const before = randomText(random(30));
    const n = [...before].length;
    const op = new Op();
    let left = n;
    while (left > 0 && random(3)) {
      const keep = random(left + 1);
      op.retain(keep);
      left -= keep;
      if (random(2)) op.insert(randomText(1 + random(3)));
      const cut = random(Math.min(left, 3) + 1);
      op.erase(cut);
      left -= cut;
    }
    const edits = monacoEditsFromOps(before, op.toWire(), (u) => positionAt(before, u));
    assert.equal(applyEdits(before, edits), apply(before, op));
  }
});

test('a content change event becomes one op, multi-cursor edits too', () => {
  const before = 'a😀b\ncd';
  // As Monaco reports them: offsets over the text before the event, last first.
  const changes = [
    { rangeOffset: 6, rangeLength: 1, text: 'D' },
    { rangeOffset: 1, rangeLength: 2, text: '' },
    { rangeOffset: 0, rangeLength: 0, text: '>' },
  ];
  const op = opFromMonacoChanges(before, changes);
  assert.deepEqual(op.toWire(true), [{ insert: '>' }, { retain: 1 }, { delete: 1, deleted: '😀' }, { retain: 3 }, { insert: 'D' }, { delete: 1, deleted: 'd' }]);
  assert.equal(apply(before, op), '>ab\ncD');
});
