/**
 * Summarise a V8 .cpuprofile (from `--cpu-prof`, or `--profile DIR` of the benches): the top frames by self time
 * and the self time per source file, as percentages of the sampled (non-idle) time.
 *
 *   npm run bench -- profile FILE.cpuprofile [--top 30] [--after SECONDS]
 *
 * --after skips the samples of the profile's first SECONDS (the broker's start: module loading, opening the store).
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

export function summarize(file: string, top = 30, afterSeconds = 0): string {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const self = new Map<number, number>();
  let at = 0;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    if (at < afterSeconds * 1e6) continue;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const byFrame = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const n of p.nodes) {
    const t = self.get(n.id) ?? 0;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') {
      idle += t;
      continue;
    }
    total += t;
    const short = url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '');
    const key = `${functionName || '(anonymous)'} ${short}${url ? `:${lineNumber + 1}` : ''}`;
    byFrame.set(key, (byFrame.get(key) ?? 0) + t);
    const f = url ? short : functionName;
    byFile.set(f, (byFile.get(f) ?? 0) + t);
  }
  // inclusive time: each sample counts once for every distinct frame on its stack
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const incl = new Map<string, number>();
  for (const [id, t] of self) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const { functionName, url, lineNumber } = byId.get(cur)!.callFrame;
      const short = url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '');
      const key = `${functionName || '(anonymous)'} ${short}${url ? `:${lineNumber + 1}` : ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      incl.set(key, (incl.get(key) ?? 0) + t);
    }
  }
  const pct = (t: number) => ((100 * t) / total).toFixed(1).padStart(5) + '%';
  const lines = [`${file}: ${(total / 1e6).toFixed(2)} s sampled busy, ${(idle / 1e6).toFixed(2)} s idle`, '', 'top self time by frame:'];
  for (const [k, t] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(t)}  ${k}`);
  lines.push('', 'inclusive (self + callees) by frame:');
  for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(t)}  ${k}`);
  lines.push('', 'self time by file:');
  for (const [k, t] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(t)}  ${k}`);
  return lines.join('\n');
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { top: { type: 'string', default: '30' }, after: { type: 'string', default: '0' } } });
  for (const f of positionals) console.log(summarize(f, Number(values.top), Number(values.after)) + '\n');
}
