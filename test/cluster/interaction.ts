// Interpreter for etcd/raft-style golden transcripts: a file of commands, each followed by
// "----" and the output it must produce. Small on purpose: each command drives one node
// the way an application would (persist, send, apply, advance), and prints what happened.
import type { ConfState, Entry, Message, NodeId, Ready } from '../../cluster/raft/index.js';
import { MemoryStorage, Prng, RawNode, decodeConfChange, confString } from '../../cluster/raft/index.js';
import type { ConfChangeType } from '../../cluster/raft/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface Block {
  readonly comments: string[];
  readonly cmd: string;
  readonly expected: string;
}

/** Parse a transcript: comment/blank lines, a command line, "----", output lines up to a blank line. */
export function parseTranscript(text: string): Block[] {
  const lines = text.split('\n');
  const out: Block[] = [];
  let comments: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '' || line.startsWith('#')) {
      comments.push(line);
      continue;
    }
    if (lines[i + 1] !== '----') throw new Error(`line ${i + 1}: expected ---- after command "${line}"`);
    const exp: string[] = [];
    i += 2;
    while (i < lines.length && (lines[i] as string) !== '') exp.push(lines[i++] as string);
    out.push({ comments, cmd: line, expected: exp.join('\n') });
    comments = [''];
  }
  return out;
}

export function formatTranscript(blocks: readonly { comments: string[]; cmd: string; actual: string }[]): string {
  const parts: string[] = [];
  for (const b of blocks) {
    for (const c of b.comments) parts.push(c);
    parts.push(b.cmd, '----', b.actual);
  }
  return parts.join('\n') + '\n';
}

interface TNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  node: RawNode;
  applied: string[];
  conf: ConfState;
}

function fmtEntry(e: Entry): string {
  if (e.type === 'confChange') {
    const r = decodeConfChange(e.data);
    return `${e.term}/${e.index} ConfChange ${r.change.type} ${r.change.node}`;
  }
  return `${e.term}/${e.index} ${JSON.stringify(dec.decode(e.data))}`;
}

export function fmtMsg(m: Message): string {
  const h = `${m.from}->${m.to} ${m.type} Term:${m.term}`;
  switch (m.type) {
    case 'app':
      return `${h} Log:${m.logTerm}/${m.index} Commit:${m.commit}${m.entries.length ? ` Entries:[${m.entries.map(fmtEntry).join(', ')}]` : ''}`;
    case 'appResp':
      return `${h} Index:${m.index}${m.reject ? ` Rejected (Hint: ${m.hintTerm}/${m.hintIndex})` : ''}`;
    case 'heartbeat':
      return `${h} Commit:${m.commit}`;
    case 'heartbeatResp':
    case 'timeoutNow':
      return h;
    case 'vote':
    case 'preVote':
      return `${h} Log:${m.logTerm}/${m.index}${m.transfer ? ' Transfer' : ''}`;
    case 'voteResp':
    case 'preVoteResp':
      return `${h}${m.reject ? ' Rejected' : ''}`;
    case 'snap':
      return `${h} Snapshot:${m.meta.term}/${m.meta.index} Offset:${m.offset} Len:${m.data.byteLength} Total:${m.total}${m.done ? ' Done' : ''}`;
    case 'snapResp':
      return `${h} Index:${m.index} Offset:${m.offset}`;
  }
}

function parseArgs(words: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const w of words) {
    const k = w.indexOf('=');
    if (k > 0) m.set(w.slice(0, k), w.slice(k + 1));
  }
  return m;
}
function idList(s: string | undefined): NodeId[] {
  if (!s) return [];
  return s.replace(/[()]/g, '').split(',').filter((x) => x !== '').map(Number);
}

export class Interaction {
  private nodes = new Map<NodeId, TNode>();
  private mailbox: Message[] = [];
  private isolated = new Set<NodeId>();
  private out: string[] = [];
  private logOn = true;
  private opts = new Map<string, string>();

  run(cmd: string): string {
    this.out = [];
    const words = cmd.split(/\s+/).filter((w) => w !== '');
    const [verb, ...rest] = words;
    const nums = rest.filter((w) => /^\d+$/.test(w)).map(Number);
    const args = parseArgs(rest);
    switch (verb) {
      case 'log-level':
        this.logOn = rest[0] !== 'none';
        break;
      case 'add-nodes':
        this.addNodes(nums[0] ?? 0, args);
        break;
      case 'campaign':
        this.get(nums[0]).node.campaign();
        break;
      case 'tick':
        for (const id of this.targets(rest.filter((w) => !w.includes('=')))) {
          for (let i = 0; i < Number(args.get('n') ?? 1); i++) this.get(id).node.tick();
        }
        break;
      case 'propose': {
        const r = this.get(nums[0]).node.propose(enc.encode(rest[1] ?? ''));
        if (!r.ok) this.out.push(`error: ${r.reason}`);
        break;
      }
      case 'propose-conf-change': {
        const r = this.get(nums[0]).node.proposeConfChange({ type: rest[1] as ConfChangeType, node: Number(rest[2]) });
        if (!r.ok) this.out.push(`error: ${r.reason}`);
        break;
      }
      case 'transfer-leadership': {
        const r = this.get(nums[0]).node.transferLeadership(nums[1] ?? 0);
        if (!r.ok) this.out.push(`error: ${r.reason}`);
        break;
      }
      case 'process-ready':
        for (const id of this.targets(rest)) this.processReady(this.get(id), '');
        break;
      case 'deliver-msgs':
        for (const id of this.targets(rest)) this.deliver(id, '');
        break;
      case 'stabilize':
        this.stabilize(this.targets(rest));
        break;
      case 'isolate':
        for (const id of nums) this.isolated.add(id);
        break;
      case 'heal':
        this.isolated.clear();
        break;
      case 'compact':
        this.compact(this.get(nums[0]), nums[1] ?? 0);
        break;
      case 'restart':
        this.restart(this.get(nums[0]));
        break;
      case 'status':
        this.status(this.get(nums[0]));
        break;
      case 'raft-log': {
        const log = this.get(nums[0]).node.raft.log;
        const es = log.allEntries();
        if (log.firstIndex() > 1) this.out.push(`(snapshot at ${log.firstIndex() - 1})`);
        for (const e of es) this.out.push(fmtEntry(e));
        break;
      }
      default:
        throw new Error(`unknown command ${verb ?? ''}`);
    }
    return this.out.length ? this.out.join('\n') : 'ok';
  }

  private get(id: NodeId | undefined): TNode {
    const n = id === undefined ? undefined : this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }
  private targets(words: string[]): NodeId[] {
    const ids = words.filter((w) => /^\d+$/.test(w)).map(Number);
    return ids.length ? ids : [...this.nodes.keys()];
  }

  private addNodes(n: number, args: Map<string, string>): void {
    this.opts = args;
    const voters = args.has('voters') ? idList(args.get('voters')) : Array.from({ length: n }, (_, i) => i + 1);
    const conf: ConfState = { voters, learners: idList(args.get('learners')) };
    const first = this.nodes.size + 1;
    for (let id = first; id < first + n; id++) {
      const member = conf.voters.includes(id) || conf.learners.includes(id);
      const storage = member ? MemoryStorage.bootstrap(conf) : new MemoryStorage();
      const t: TNode = { id, storage, node: undefined as unknown as RawNode, applied: [], conf: member ? conf : { voters: [], learners: [] } };
      t.node = this.newNode(t);
      this.nodes.set(id, t);
    }
  }

  private newNode(t: TNode): RawNode {
    const a = this.opts;
    return new RawNode({
      id: t.id,
      storage: t.storage,
      // Deterministic jitter; tests that care tick explicitly past 2 * electionTick.
      rand: new Prng(t.id),
      electionTick: 10,
      heartbeatTick: 1,
      preVote: a.get('prevote') === 'true',
      checkQuorum: a.get('checkquorum') === 'true',
      maxSizePerMsg: Number(a.get('max-bytes') ?? 1024),
      maxEntriesPerMsg: Number(a.get('max-entries') ?? 16),
      maxInflightMsgs: Number(a.get('inflight') ?? 4),
      maxSnapshotChunkBytes: Number(a.get('chunk') ?? 32),
      applied: t.storage.snapshot().meta.index,
      logger: (line) => {
        if (this.logOn) this.out.push(line);
      },
    });
  }

  private processReady(t: TNode, ind: string): boolean {
    const node = t.node;
    if (!node.hasReady()) return false;
    const rd: Ready = node.ready();
    const p = (s: string) => this.out.push(ind + s);
    p(`Ready${rd.mustSync ? ' MustSync' : ''}:`);
    if (rd.softState) p(`Lead:${rd.softState.lead} Role:${rd.softState.role}`);
    if (rd.hardState) p(`HardState Term:${rd.hardState.term} Vote:${rd.hardState.vote} Commit:${rd.hardState.commit}`);
    if (rd.snapshot) {
      p(`Snapshot Index:${rd.snapshot.meta.index} Term:${rd.snapshot.meta.term} ${confString(rd.snapshot.meta.conf)} Data:${JSON.stringify(dec.decode(rd.snapshot.data))}`);
    }
    if (rd.entries.length) {
      p('Entries:');
      for (const e of rd.entries) p(fmtEntry(e));
    }
    if (rd.committedEntries.length) {
      p('CommittedEntries:');
      for (const e of rd.committedEntries) p(fmtEntry(e));
    }
    if (rd.messages.length) {
      p('Messages:');
      for (const m of rd.messages) p(fmtMsg(m) + (this.cut(m) ? ' (dropped: isolated)' : ''));
    }
    // Persist, then send, then apply, then advance: the contract in node.ts.
    if (rd.snapshot) t.storage.applySnapshot(rd.snapshot);
    t.storage.append(rd.entries);
    if (rd.hardState) t.storage.setHardState(rd.hardState);
    this.mailbox.push(...rd.messages.filter((m) => !this.cut(m)));
    if (rd.snapshot) {
      t.applied = dec.decode(rd.snapshot.data).split(',').filter((x) => x !== '');
      t.conf = rd.snapshot.meta.conf;
    }
    for (const e of rd.committedEntries) {
      if (e.type === 'confChange') t.conf = decodeConfChange(e.data).conf;
      else if (e.data.byteLength) t.applied.push(dec.decode(e.data));
    }
    node.advance(rd);
    return true;
  }

  private cut(m: Message): boolean {
    return this.isolated.has(m.from) || this.isolated.has(m.to);
  }

  private deliver(id: NodeId, ind: string): boolean {
    const mine = this.mailbox.filter((m) => m.to === id);
    if (!mine.length) return false;
    this.mailbox = this.mailbox.filter((m) => m.to !== id);
    for (const m of mine) {
      if (this.cut(m)) {
        this.out.push(`${ind}${fmtMsg(m)} (dropped: isolated)`);
        continue;
      }
      this.out.push(ind + fmtMsg(m));
      const before = this.out.length;
      this.get(id).node.step(m);
      for (let k = before; k < this.out.length; k++) this.out[k] = ind + '  ' + this.out[k];
    }
    return true;
  }

  private stabilize(ids: NodeId[]): void {
    for (let round = 0; round < 1000; round++) {
      let any = false;
      for (const id of ids) {
        const t = this.get(id);
        if (t.node.hasReady()) {
          this.out.push(`> ${id} handling Ready`);
          const before = this.out.length;
          this.processReady(t, '  ');
          void before;
          any = true;
        }
      }
      for (const id of ids) {
        if (this.mailbox.some((m) => m.to === id)) {
          this.out.push(`> ${id} receiving messages`);
          this.deliver(id, '  ');
          any = true;
        }
      }
      if (!any) return;
    }
    throw new Error('stabilize did not converge');
  }

  /** The application snapshots its state machine (the applied data) and compacts up to `index`. */
  private compact(t: TNode, index: number): void {
    const data = enc.encode(t.applied.join(','));
    t.storage.createSnapshot(index, t.conf, data);
    this.out.push(`compacted ${t.id} to ${index} (snapshot ${data.byteLength} bytes)`);
  }

  /** Crash and restart from what was persisted. */
  private restart(t: TNode): void {
    this.mailbox = this.mailbox.filter((m) => m.to !== t.id);
    const snap = t.storage.snapshot();
    t.applied = snap.meta.index > 0 ? dec.decode(snap.data).split(',').filter((x) => x !== '') : [];
    t.conf = snap.meta.conf;
    t.node = this.newNode(t);
  }

  private status(t: TNode): void {
    const s = t.node.status();
    this.out.push(`${s.id}: ${s.role} term=${s.term} vote=${s.vote} lead=${s.lead} commit=${s.commit} applied=${s.applied} last=${s.lastIndex} ${confString(s.conf)}`);
    for (const [id, p] of [...s.progress].sort((a, b) => a[0] - b[0])) this.out.push(`  ${id}: ${p}`);
    this.out.push(`  applied data: [${t.applied.join(',')}]`);
  }
}
