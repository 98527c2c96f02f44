// The smallest single replacement between two texts, for when only the
// texts are known: a snapshot after history ran out, or an application
// that sets the whole text.
import { Op, withRemovedText } from './ot.js';

/** One replace op turning `from` into `to` (common prefix and suffix kept). */
export function diffOp(from, to) {
  const a = [...from], b = [...to];
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  const op = new Op().retain(p).insert(b.slice(p, b.length - s).join('')).erase(a.length - p - s);
  return withRemovedText(from, op);
}
