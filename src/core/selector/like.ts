/**
 * SQL LIKE matching without regular expressions: '%' = any sequence (including empty),
 * '_' = exactly one character (a Unicode code point), the optional escape character makes the
 * following '%', '_' or escape character literal. Matching is O(text × pattern) in the worst case
 * (no exponential backtracking), with fast paths for the common shapes: 'abc', 'abc%', '%abc', '%abc%'.
 */

type Element = { t: 'lit'; s: string } | { t: 'one' } | { t: 'any' };

function parsePattern(pattern: string, escape: string | undefined): Element[] {
  const out: Element[] = [];
  let lit = '';
  const flush = (): void => {
    if (lit) out.push({ t: 'lit', s: lit });
    lit = '';
  };
  for (let i = 0; i < pattern.length; ) {
    if (escape !== undefined && pattern.startsWith(escape, i)) {
      i += escape.length;
      const cp = pattern.codePointAt(i);
      if (cp === undefined) break; // rejected by the parser; be lenient here
      const ch = String.fromCodePoint(cp);
      lit += ch;
      i += ch.length;
      continue;
    }
    const c = pattern[i]!;
    if (c === '%') {
      flush();
      if (out.length === 0 || out[out.length - 1]!.t !== 'any') out.push({ t: 'any' });
    } else if (c === '_') {
      flush();
      out.push({ t: 'one' });
    } else {
      lit += c;
    }
    i++;
  }
  flush();
  return out;
}

/** Length in code units of the code point at i (1 or 2). */
function cpLen(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 2;
  }
  return 1;
}

/** Compile a LIKE pattern into a string predicate. */
export function compileLike(pattern: string, escape?: string): (s: string) => boolean {
  const els = parsePattern(pattern, escape);
  const n = els.length;
  if (n === 0) return (s) => s.length === 0;
  const lit = (e: Element | undefined): string | undefined => (e !== undefined && e.t === 'lit' ? e.s : undefined);
  const any = (e: Element | undefined): boolean => e !== undefined && e.t === 'any';
  if (n === 1) {
    const l = lit(els[0]);
    if (l !== undefined) return (s) => s === l;
    if (any(els[0])) return () => true;
  }
  if (n === 2) {
    const l0 = lit(els[0]);
    const l1 = lit(els[1]);
    if (l0 !== undefined && any(els[1])) return (s) => s.startsWith(l0);
    if (l1 !== undefined && any(els[0])) return (s) => s.endsWith(l1);
  }
  if (n === 3 && any(els[0]) && any(els[2])) {
    const l = lit(els[1]);
    if (l !== undefined) return (s) => s.includes(l);
  }
  return (s) => matchGeneral(s, els);
}

/**
 * Greedy matcher that backtracks only to the most recent '%'. Correct because every other element
 * matches a fixed amount at a given position, so the leftmost match of each '%'-separated segment is best.
 */
function matchGeneral(s: string, p: Element[]): boolean {
  let si = 0;
  let pi = 0;
  let starPi = -1;
  let starSi = 0;
  while (si < s.length) {
    if (pi < p.length) {
      const e = p[pi]!;
      if (e.t === 'any') {
        starPi = pi++;
        starSi = si;
        continue;
      }
      if (e.t === 'one') {
        si += cpLen(s, si);
        pi++;
        continue;
      }
      if (s.startsWith(e.s, si)) {
        si += e.s.length;
        pi++;
        continue;
      }
    }
    if (starPi < 0) return false;
    pi = starPi + 1;
    starSi += cpLen(s, starSi);
    si = starSi;
  }
  while (pi < p.length && p[pi]!.t === 'any') pi++;
  return pi === p.length;
}
