// Monaco counts UTF-16 code units and stet counts code points: the
// conversions between Monaco's content changes and stet operations.
import { Op, cpLength, utf16Advance } from '@stet/client';

/**
 * The op of one Monaco content change event over `before`, the text before
 * it. Every change's offsets refer to `before` (multi-cursor edits too).
 */
export function opFromMonacoChanges(before, changes) {
  const sorted = [...changes].sort((x, y) => x.rangeOffset - y.rangeOffset);
  const op = new Op();
  let u = 0;
  for (const c of sorted) {
    op.retain(cpLength(before.slice(u, c.rangeOffset)));
    op.insert(c.text);
    const removed = before.slice(c.rangeOffset, c.rangeOffset + c.rangeLength);
    op.erase(cpLength(removed), removed);
    u = c.rangeOffset + c.rangeLength;
  }
  return op;
}

/**
 * Monaco edits (for model.applyEdits, all ranges over `text`) doing wire
 * ops `ops` to `text`; `positionAt` maps a UTF-16 offset of `text` to a
 * {lineNumber, column} (model.getPositionAt before the edits).
 */
export function monacoEditsFromOps(text, ops, positionAt) {
  const spans = []; // [from, to, text] in UTF-16 offsets of `text`
  let u = 0;
  for (const c of ops) {
    if ('retain' in c) {
      u = utf16Advance(text, u, Number(c.retain));
    } else if ('insert' in c) {
      spans.push([u, u, c.insert]);
    } else {
      const end = utf16Advance(text, u, Number(c.delete));
      const last = spans[spans.length - 1];
      // An insert and the delete after it at one place: one replacement.
      if (last && last[0] === u && last[1] === u) last[1] = end;
      else spans.push([u, end, '']);
      u = end;
    }
  }
  return spans.map(([from, to, insert]) => {
    const a = positionAt(from), b = from === to ? a : positionAt(to);
    return {
      range: { startLineNumber: a.lineNumber, startColumn: a.column, endLineNumber: b.lineNumber, endColumn: b.column },
      text: insert,
      forceMoveMarkers: false,
    };
  });
}
