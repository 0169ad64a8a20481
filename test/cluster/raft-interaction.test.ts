import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Interaction, formatTranscript, parseTranscript } from './interaction.js';

// The build copies only .ts output to dist/, so transcripts are read from the source tree:
// dist/test/cluster/x.js -> <repo>/test/cluster/testdata (or next to x.ts when run via tsx).
const here = dirname(fileURLToPath(import.meta.url));
const compiled = resolve(here, '../../../test/cluster/testdata');
const TESTDATA = here.includes(`${join('dist', 'test')}`) && existsSync(compiled) ? compiled : join(here, 'testdata');
const REWRITE = process.env.RAFT_REWRITE === '1';

describe('raft: interaction transcripts (test/cluster/testdata)', () => {
  const files = readdirSync(TESTDATA).filter((f) => f.endsWith('.txt')).sort();
  it('has transcripts', () => assert.ok(files.length > 0, `no .txt files in ${TESTDATA}`));
  for (const f of files) {
    it(f, () => {
      const path = join(TESTDATA, f);
      const blocks = parseTranscript(readFileSync(path, 'utf8'));
      const env = new Interaction();
      const results = blocks.map((b) => ({ ...b, actual: env.run(b.cmd) }));
      if (REWRITE) {
        writeFileSync(path, formatTranscript(results));
        return;
      }
      for (const r of results) {
        assert.equal(r.actual, r.expected, `${f}: output of "${r.cmd}" differs (RAFT_REWRITE=1 regenerates)`);
      }
    });
  }
});
