// The stet operation algebra in JavaScript: the same normal form, apply,
// compose, invert and transform (policies lww and merge) as core/ in C++,
// so an optimistic client computes exactly what the server computes. Test
// vectors written by the C++ core (test/ot.test.mjs) keep them in step.
import { cpLength, cpSlice, utf16Advance, utf16Offset } from './unicode.js';

const R = 'r', I = 'i', D = 'd';

/** A normalised operation: components {k: 'r'|'i'|'d', n, t}. */
export class Op {
  constructor() {
    this.cs = [];
    this.pending = 0; // trailing retain, not a component
  }

  retain(n) {
    this.pending += n;
    return this;
  }

  flush() {
    if (!this.pending) return;
    const last = this.cs[this.cs.length - 1];
    if (last && last.k === R) last.n += this.pending;
    else this.cs.push({ k: R, n: this.pending, t: '' });
    this.pending = 0;
  }

  insert(text, n = cpLength(text)) {
    if (!n) return this;
    this.flush();
    const cs = this.cs;
    const last = cs[cs.length - 1];
    if (last && last.k === I) {
      last.t += text;
      last.n += n;
    } else if (last && last.k === D) {
      const prev = cs[cs.length - 2];
      if (prev && prev.k === I) {
        prev.t += text;
        prev.n += n;
      } else {
        cs.splice(cs.length - 1, 0, { k: I, n, t: text });
      }
    } else {
      cs.push({ k: I, n, t: text });
    }
    return this;
  }

  erase(n, removed = '') {
    if (!n) return this;
    this.flush();
    const last = this.cs[this.cs.length - 1];
    if (last && last.k === D) {
      last.t = last.t && removed ? last.t + removed : '';
      last.n += n;
    } else {
      this.cs.push({ k: D, n, t: removed });
    }
    return this;
  }

  push(c) {
    if (c.k === R) return this.retain(c.n);
    if (c.k === I) return this.insert(c.t, c.n);
    return this.erase(c.n, c.t);
  }

  inputLength() {
    let n = this.pending;
    for (const c of this.cs) if (c.k !== I) n += c.n;
    return n;
  }

  isNoop() {
    return this.cs.length === 0;
  }

  /** Wire form: [{retain}|{insert}|{delete, deleted?}]. */
  toWire(withDeleted = false) {
    return this.cs.map((c) =>
      c.k === R ? { retain: c.n } : c.k === I ? { insert: c.t }
        : withDeleted && c.t ? { delete: c.n, deleted: c.t } : { delete: c.n });
  }

  static fromWire(ops) {
    const op = new Op();
    for (const c of ops || []) {
      if ('retain' in c) op.retain(Number(c.retain));
      else if ('insert' in c) op.insert(c.insert);
      else if ('delete' in c) op.erase(Number(c.delete), c.deleted || '');
    }
    return op;
  }
}

class Cursor {
  constructor(op) {
    this.cs = op.cs;
    this.i = 0;
    this.off = 0; // code points into the current component
    this.uoff = 0; // UTF-16 units into its text
  }
  done() {
    return this.i === this.cs.length;
  }
  kind() {
    return this.cs[this.i].k;
  }
  remaining() {
    return this.cs[this.i].n - this.off;
  }
  take(n) {
    const c = this.cs[this.i];
    let t = '';
    if (c.t) {
      const rest = c.t.slice(this.uoff);
      const u = n === this.remaining() ? rest.length : utf16Offset(rest, n);
      t = rest.slice(0, u);
      this.uoff += u;
    }
    this.off += n;
    if (this.off === c.n) {
      this.i++;
      this.off = 0;
      this.uoff = 0;
    }
    return { k: c.k, n, t };
  }
  takeAll() {
    return this.take(this.remaining());
  }
}

/** Applies `op` to `doc` (a string); throws when it does not fit. */
export function apply(doc, op) {
  if (op.inputLength() > cpLength(doc)) throw new Error('operation longer than the document');
  let out = '';
  let u = 0;
  for (const c of op.cs) {
    if (c.k === R) {
      const end = utf16Advance(doc, u, c.n);
      out += doc.slice(u, end);
      u = end;
    } else if (c.k === I) {
      out += c.t;
    } else {
      u = utf16Advance(doc, u, c.n);
    }
  }
  return out + doc.slice(u);
}

/** `op` with the text of every erase filled in from `doc`. */
export function withRemovedText(doc, op) {
  const out = new Op();
  let pos = 0;
  for (const c of op.cs) {
    if (c.k === R) out.retain(c.n);
    else if (c.k === I) out.insert(c.t, c.n);
    else out.erase(c.n, cpSlice(doc, pos, c.n));
    if (c.k !== I) pos += c.n;
  }
  out.retain(op.pending);
  return out;
}

export function compose(a, b) {
  const ca = new Cursor(a), cb = new Cursor(b);
  const out = new Op();
  for (;;) {
    if (!cb.done() && cb.kind() === I) { out.push(cb.takeAll()); continue; }
    if (!ca.done() && ca.kind() === D) { out.push(ca.takeAll()); continue; }
    if (ca.done() && cb.done()) break;
    if (ca.done()) { out.push(cb.takeAll()); continue; }
    if (cb.done()) { out.push(ca.takeAll()); continue; }
    const n = Math.min(ca.remaining(), cb.remaining());
    const pa = ca.take(n), pb = cb.take(n);
    if (pa.k === R) out.push(pb);
    else if (pb.k === R) out.push(pa);
  }
  return out;
}

export function invert(op) {
  const out = new Op();
  for (const c of op.cs) {
    if (c.k === R) out.retain(c.n);
    else if (c.k === I) out.erase(c.n, c.t);
    else out.insert(c.t, c.n);
  }
  return out;
}

function transformMerge(a, b) {
  const ca = new Cursor(a), cb = new Cursor(b);
  const a2 = new Op(), b2 = new Op();
  for (;;) {
    if (!ca.done() && ca.kind() === I) { const p = ca.takeAll(); b2.retain(p.n); a2.push(p); continue; }
    if (!cb.done() && cb.kind() === I) { const p = cb.takeAll(); a2.retain(p.n); b2.push(p); continue; }
    if (ca.done() && cb.done()) break;
    const n = ca.done() ? cb.remaining() : cb.done() ? ca.remaining() : Math.min(ca.remaining(), cb.remaining());
    const pa = ca.done() ? { k: R, n, t: '' } : ca.take(n);
    const pb = cb.done() ? { k: R, n, t: '' } : cb.take(n);
    if (pa.k === R && pb.k === R) { a2.retain(n); b2.retain(n); }
    else if (pa.k === D && pb.k === R) a2.push(pa);
    else if (pa.k === R && pb.k === D) b2.push(pb);
  }
  return { earlier: a2, later: b2, dropped: [] };
}

function changesOf(op) {
  const out = [];
  let pos = 0, open = false;
  for (const c of op.cs) {
    if (c.k === R) { pos += c.n; open = false; continue; }
    if (!open) { out.push({ position: pos, erased: 0, inserted: 0, insertedText: '', erasedText: '', known: true }); open = true; }
    const ch = out[out.length - 1];
    if (c.k === I) { ch.inserted += c.n; ch.insertedText += c.t; }
    else { ch.erased += c.n; ch.erasedText += c.t; ch.known = ch.known && c.t !== ''; pos += c.n; }
  }
  return out;
}

const inside = (p, first, count) => first < p && p < first + count;

function conflicts(e, l) {
  const overlap = e.erased > 0 && l.erased > 0 &&
    Math.max(e.position, l.position) < Math.min(e.position + e.erased, l.position + l.erased);
  return overlap || (e.inserted > 0 && inside(e.position, l.position, l.erased)) ||
    (l.inserted > 0 && inside(l.position, e.position, e.erased));
}

/**
 * Transforms two operations made on the same document, `earlier` serialised
 * first: apply(apply(d, earlier), r.later) === apply(apply(d, later), r.earlier).
 * Under 'lww' the earlier edit's changes that overlap the later one are
 * undone (r.dropped lists them); under 'merge' nothing inserted is lost.
 */
export function transform(earlier, later, policy) {
  if (policy === 'merge') return transformMerge(earlier, later);
  const ec = changesOf(earlier), lc = changesOf(later);
  const drop = ec.map((e) => e.known && lc.some((l) => conflicts(e, l)));
  if (!drop.some(Boolean)) return transformMerge(earlier, later);
  const kept = new Op(), undo = new Op();
  let index = 0, inChange = false;
  for (const c of earlier.cs) {
    if (c.k === R) { kept.retain(c.n); undo.retain(c.n); inChange = false; continue; }
    if (!inChange) {
      inChange = true;
      const ch = ec[index];
      if (drop[index]) { kept.retain(ch.erased); undo.insert(ch.erasedText, ch.erased); undo.erase(ch.inserted, ch.insertedText); }
      index++;
    }
    if (drop[index - 1]) continue;
    kept.push(c);
    if (c.k === I) undo.retain(c.n);
  }
  const merged = transformMerge(kept, later);
  return {
    earlier: merged.earlier,
    later: compose(undo, merged.later),
    dropped: ec.filter((_, i) => drop[i]).map((e) => ({ position: e.position, inserted: e.insertedText, erased: e.erasedText })),
  };
}

/** Where a cursor at code point `pos` ends up after `op`. */
export function transformPosition(pos, op, insertBefore = false) {
  let at = 0, out = pos;
  for (const c of op.cs) {
    if (at > pos) break;
    if (c.k === R) at += c.n;
    else if (c.k === I) { if (at < pos || (at === pos && !insertBefore)) out += c.n; }
    else { out -= Math.min(c.n, Math.max(0, pos - at)); at += c.n; }
  }
  return out;
}
