// The JavaScript op algebra must compute exactly what the C++ core computes.
// Vectors: $STET_OT_VECTORS, else build/test-vectors/ot.json at the top of
// the repository, written by `build/tests/stet_ot_vectors OUT.json`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Op, apply, compose, transform, invert, withRemovedText } from '../src/ot.js';
import { moveRange } from '../src/comments.js';
import { cpLength, cpOffset, utf16Advance, utf16Offset, cpSlice } from '../src/unicode.js';

const path = process.env.STET_OT_VECTORS ||
  fileURLToPath(new URL('../../../../../build/test-vectors/ot.json', import.meta.url));
const vectors = JSON.parse(readFileSync(path, 'utf8'));

test('vectors are there', () => {
  assert.ok(vectors.length >= 1000, `only ${vectors.length} vectors`);
});

test('transform agrees with the C++ core (both policies)', () => {
  for (const v of vectors) {
    const a = Op.fromWire(v.a), b = Op.fromWire(v.b);
    const t = transform(a, b, v.policy);
    assert.deepEqual(t.later.toWire(true), v.later, JSON.stringify(v));
    assert.deepEqual(t.earlier.toWire(true), v.earlier, JSON.stringify(v));
    assert.deepEqual(t.dropped, v.dropped);
    assert.equal(apply(apply(v.doc, a), t.later), v.result);
    assert.equal(apply(apply(v.doc, b), t.earlier), v.result);
  }
});

test('comment ranges move as the C++ core moves them', () => {
  let detached = 0;
  for (const v of vectors) {
    if (!v.anchor) continue;
    const afterA = moveRange({ start: v.anchor.start, end: v.anchor.end, detached: false }, Op.fromWire(v.a));
    assert.deepEqual(afterA, v.anchor.afterA, JSON.stringify(v));
    assert.deepEqual(moveRange(afterA, Op.fromWire(v.c)), v.anchor.afterC, JSON.stringify(v));
    if (v.anchor.afterC.detached) detached++;
  }
  assert.ok(detached > 50, `only ${detached} vectors detach a range`);
});

test('compose agrees with the C++ core', () => {
  for (const v of vectors) {
    const composed = compose(Op.fromWire(v.a), Op.fromWire(v.c));
    assert.deepEqual(composed.toWire(true), v.composed);
  }
});

test('invert undoes an op whose removed text is known', () => {
  for (const v of vectors.slice(0, 500)) {
    const a = withRemovedText(v.doc, Op.fromWire(v.b));
    assert.equal(apply(apply(v.doc, a), invert(a)), v.doc);
  }
});

test('code point helpers', () => {
  const s = 'a\u00e9\u{1F600}z';
  assert.equal(cpLength(s), 4);
  assert.equal(utf16Offset(s, 3), 4);
  assert.equal(cpOffset(s, 4), 3);
  assert.equal(cpSlice(s, 2, 1), '\u{1F600}');
  assert.equal(utf16Advance(s, 1, 2), 4);
  assert.equal(utf16Advance(s, 4, 9), 5);
});
