// Positions in stet count Unicode code points; JavaScript strings, Monaco
// and CodeMirror count UTF-16 code units. These helpers convert between the
// two. A lone surrogate counts as one code point, as it does in a string.

/** Number of code points in `s`. */
export function cpLength(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff || i === 0 || !isHigh(s.charCodeAt(i - 1))) n++;
  }
  return n;
}

function isHigh(c) {
  return c >= 0xd800 && c <= 0xdbff;
}

/** UTF-16 offset of code point `cp` in `s` (s.length when cp is the end). */
export function utf16Offset(s, cp) {
  return utf16Advance(s, 0, cp);
}

/**
 * UTF-16 offset `cp` code points after UTF-16 offset `from` in `s`, without
 * copying the string (editors convert every remote edit this way).
 */
export function utf16Advance(s, from, cp) {
  let i = from;
  while (cp > 0 && i < s.length) {
    i += isHigh(s.charCodeAt(i)) && i + 1 < s.length ? 2 : 1;
    cp--;
  }
  return i;
}

/** Code point index of UTF-16 offset `u` in `s`. */
export function cpOffset(s, u) {
  return cpLength(s.slice(0, u));
}

/** The code points [start, start + count) of `s`. */
export function cpSlice(s, start, count) {
  const a = utf16Offset(s, start);
  const rest = s.slice(a);
  return rest.slice(0, utf16Offset(rest, count));
}

/**
 * UTF-16 offsets in `s` of code point positions `cps` (any order), in one
 * pass over `s`: Map position -> offset.
 */
export function utf16Offsets(s, cps) {
  const out = new Map();
  let cp = 0, u = 0;
  for (const p of [...new Set(cps)].sort((a, b) => a - b)) {
    u = utf16Advance(s, u, p - cp);
    cp = p;
    out.set(p, u);
  }
  return out;
}
