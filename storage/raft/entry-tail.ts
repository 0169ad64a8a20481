/**
 * The newest Raft log entries written, kept in memory for reads (bounded by `maxBytes`, counted in entrySize): the
 * very Entry objects handed to the log's save(), so a leader recognises its own proposals by them, and reads of them
 * neither touch the disk nor copy. Always the newest entries, ending at the log's last index; the log changes it
 * with its bounds.
 */
import type { Entry } from '../../cluster/raft/index.js';
import { entrySize } from '../../cluster/raft/index.js';

export class EntryTail {
  private entries: Entry[] = [];
  private first = 0;
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The cached entry at `index`, if it is held. */
  get(index: number): Entry | undefined {
    if (this.entries.length === 0 || index < this.first) return undefined;
    return this.entries[index - this.first];
  }

  /** Keep `written` (just written, ending at the log's last index), after dropping the cached ones they replaced. */
  append(written: readonly Entry[]): void {
    if (this.maxBytes <= 0 || written.length === 0) return;
    const start = (written[0] as Entry).index;
    if (this.entries.length === 0 || start < this.first || start > this.first + this.entries.length) {
      this.entries = [];
      this.bytes = 0;
      this.first = start;
    } else {
      for (const e of this.entries.splice(start - this.first)) this.bytes -= entrySize(e);
    }
    for (const e of written) {
      this.entries.push(e);
      this.bytes += entrySize(e);
    }
    // Over budget: the oldest go (in one splice; at least one entry stays).
    let n = 0;
    let bytes = this.bytes;
    while (bytes > this.maxBytes && n < this.entries.length - 1) bytes -= entrySize(this.entries[n++] as Entry);
    if (n > 0) this.dropThrough(this.first + n - 1);
  }

  /** Drop cached entries at or below `index` (Infinity: all). */
  dropThrough(index: number): void {
    if (this.entries.length === 0 || index < this.first) return;
    if (index >= this.first + this.entries.length - 1) {
      this.entries = [];
      this.bytes = 0;
      return;
    }
    const n = index - this.first + 1;
    for (const e of this.entries.splice(0, n)) this.bytes -= entrySize(e);
    this.first += n;
  }
}
