// CodeMirror counts UTF-16 code units and stet counts code points: the
// conversions between CodeMirror change sets and stet operations.
import { Op, cpLength, utf16Advance } from '@stet/client';

/** The op of `changes` (a ChangeSet) over `before`, the Text it applies to. */
export function opFromChangeSet(changes, before) {
  const op = new Op();
  let u = 0;
  changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => {
    op.retain(cpLength(before.sliceString(u, fromA)));
    op.insert(inserted.toString());
    const removed = before.sliceString(fromA, toA);
    op.erase(cpLength(removed), removed);
    u = toA;
  });
  return op;
}

/** CodeMirror change specs (positions over `text`) doing wire ops `ops` to `text`. */
export function changesFromOps(text, ops) {
  const changes = [];
  let u = 0;
  for (const c of ops) {
    if ('retain' in c) {
      u = utf16Advance(text, u, Number(c.retain));
    } else if ('insert' in c) {
      changes.push({ from: u, insert: c.insert });
    } else {
      const end = utf16Advance(text, u, Number(c.delete));
      changes.push({ from: u, to: end });
      u = end;
    }
  }
  return changes;
}
