/**
 * The cross-protocol matrix: one broker with every listener, senders and receivers that are third-party clients
 * (python3-stomp, python3-paho-mqtt 3.1.1/5, python3-qpid-proton, boto3, ActiveMQ's JMS client), each driven by a
 * small program that speaks a neutral description of a message (test/interop/py/matrix_client.py,
 * test/protocols/openwire/java/MatrixJms.java).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createAmqpModule } from '../../protocols/amqp/index.js';
import { mqttModule } from '../../protocols/mqtt/index.js';
import { createOpenWireModule } from '../../protocols/openwire/index.js';
import { createStompModule } from '../../protocols/stomp/index.js';
import { sqsHttpModule } from '../../src/app/aws-module.js';
import { runBroker, withPorts, type RunningBroker } from '../helpers/broker.js';
import { DEBIAN_PYTHON, testSource } from '../helpers/external.js';
import { javaHarness } from '../protocols/openwire/java-harness.js';

export type Proto = 'stomp' | 'mqtt3' | 'mqtt5' | 'amqp' | 'jms' | 'sqs' | 'sns';
export type PropType = 'string' | 'int' | 'long' | 'double' | 'bool' | 'binary' | 'float' | 'short' | 'byte';
export type Body =
  | { t: 'text'; v: string }
  | { t: 'bytes'; hex: string }
  | { t: 'big'; n: number }
  | { t: 'map'; v: Record<string, unknown>; types?: Record<string, PropType> }
  | { t: 'list'; v: unknown[]; types?: Array<PropType | null> }
  | { t: 'empty' };

export interface Case {
  kind: 'queue' | 'topic';
  name: string;
  body: Body;
  props?: Array<[string, PropType, string | number | boolean]>;
  contentType?: string;
  correlationId?: string;
  type?: string;
  priority?: number;
  ttl?: number;
  durable?: boolean;
  replyTo?: { kind: 'queue' | 'topic'; name: string };
}

export interface Dest {
  id: string;
  kind: 'queue' | 'topic';
  name: string;
}

/** What a receiving client saw, in its own terms. */
export interface Received {
  dest: string;
  bodyKind: string;
  hex: string;
  size: number;
  value?: Record<string, unknown> | unknown[];
  valueTypes?: Record<string, string>;
  props: Record<string, [string, unknown]>;
  contentType?: string | null;
  correlationId?: unknown;
  type?: string | null;
  replyTo?: string | null;
  priority?: number | null;
  ttl?: number;
  expiration?: number;
  durable?: boolean;
  messageId?: unknown;
  redelivered?: boolean;
  topic?: string;
  error?: string;
}

export type MatrixBroker = RunningBroker & {
  readonly openwire: number;
  readonly amqp: number;
  readonly mqtt: number;
  readonly stomp: number;
  readonly sqs: number;
};

export async function startMatrixBroker(): Promise<MatrixBroker> {
  javaHarness();
  const on = { host: '127.0.0.1', port: 0 };
  const r = await runBroker({
    name: 'interop-matrix',
    config: { listeners: { openwire: on, amqp: on, mqtt: on, stomp: on, sqs: on }, sqs: { purgeInterval: 0, deletedQueueCooldown: 0 } },
    modules: () => ({ protocols: [createOpenWireModule(), createAmqpModule(), mqttModule, createStompModule()], http: [sqsHttpModule] }),
  });
  return withPorts(r, { openwire: 'openwire', amqp: 'amqp', mqtt: 'mqtt', stomp: 'stomp', sqs: 'sqs' });
}

function portOf(b: MatrixBroker, p: Proto): number {
  switch (p) {
    case 'stomp':
      return b.stomp;
    case 'mqtt3':
    case 'mqtt5':
      return b.mqtt;
    case 'amqp':
      return b.amqp;
    case 'jms':
      return b.openwire;
    default:
      return b.sqs;
  }
}

const hexOf = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

/** The Java side reads TAB-separated key=value lines, strings hex-encoded. */
function javaCase(c: Case): string {
  const f: string[] = [`kind=${c.kind}`, `name=${hexOf(c.name)}`];
  const b = c.body;
  if (b.t === 'text') f.push(`body=text:${hexOf(b.v)}`);
  else if (b.t === 'bytes') f.push(`body=bytes:${b.hex}`);
  else if (b.t === 'big') f.push(`body=big:${b.n}`);
  else if (b.t === 'map') {
    const entries = Object.entries(b.v).map(([k, v]) => {
      const t = b.types?.[k] ?? (typeof v === 'string' ? 'string' : typeof v === 'boolean' ? 'bool' : Number.isInteger(v) ? 'int' : 'double');
      return `${t}:${hexOf(k)}:${hexOf(String(v))}`;
    });
    f.push(`body=map:${entries.join(',')}`);
  } else f.push('body=empty:');
  for (const [n, t, v] of c.props ?? []) f.push(`p=${t}:${hexOf(n)}:${hexOf(String(v))}`);
  // a JMS producer's content type: the String property ActiveMQ's STOMP bridge uses
  if (c.contentType !== undefined) f.push(`p=string:${hexOf('content-type')}:${hexOf(c.contentType)}`);
  if (c.correlationId !== undefined) f.push(`corr=${hexOf(c.correlationId)}`);
  if (c.type !== undefined) f.push(`type=${hexOf(c.type)}`);
  if (c.replyTo) f.push(`rk=${c.replyTo.kind}`, `rn=${hexOf(c.replyTo.name)}`);
  if (c.priority !== undefined) f.push(`prio=${c.priority}`);
  if (c.ttl !== undefined) f.push(`ttl=${c.ttl}`);
  if (c.durable !== undefined) f.push(`durable=${c.durable}`);
  return f.join('\t');
}

function command(p: Proto, mode: string, port: number): [string, string[]] {
  if (p === 'jms') return ['java', ['-cp', javaHarness().classpath, 'MatrixJms', String(port), mode]];
  return [DEBIAN_PYTHON, [testSource('interop', 'py', 'matrix_client.py'), mode, p, String(port)]];
}

interface Proc {
  lines: string[];
  /** Resolves when the marker line was printed (or rejects when the process ended without it). */
  marker(m: string): Promise<void>;
  exit: Promise<void>;
}

function start(p: Proto, mode: string, port: number, input: string, timeoutMs: number): Proc {
  const [cmd, args] = command(p, mode, port);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const lines: string[] = [];
  const waiting: Array<[string, () => void]> = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    let i: number;
    while ((i = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      lines.push(line);
      for (const [m, r] of waiting) if (line === m) r();
    }
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exit = once(child, 'exit').then(([code]) => {
    clearTimeout(timer);
    if (code !== 0) throw new Error(`${p} ${mode} exited ${code}:\n${lines.join('\n')}\n${err}`);
  });
  exit.catch(() => undefined);
  return {
    lines,
    exit,
    marker: (m) =>
      new Promise<void>((resolve, reject) => {
        if (lines.includes(m)) return resolve();
        waiting.push([m, resolve]);
        exit.then(() => (lines.includes(m) ? resolve() : reject(new Error(`${p} ${mode} ended without ${m}:\n${lines.join('\n')}\n${err}`))), reject);
      }),
  };
}

/** Subscribes the receiver to every case's destination, sends every case with the sender, returns what arrived by case index. */
export async function transfer(b: MatrixBroker, sender: Proto, receiver: Proto, cases: Case[], receiveAs: (c: Case) => Dest = defaultDest): Promise<Map<number, Received>> {
  const dests = cases.map((c, i) => ({ ...receiveAs(c), id: String(i) }));
  const input = receiver === 'jms' ? dests.map((d) => `${d.id}\t${d.kind}\t${hexOf(d.name)}`).join('\n') + '\n' : JSON.stringify(dests);
  const rx = start(receiver, 'recv', portOf(b, receiver), input, 90_000);
  await rx.marker('READY');
  const tx = start(sender, 'send', portOf(b, sender), sender === 'jms' ? cases.map(javaCase).join('\n') + '\n' : JSON.stringify(cases), 60_000);
  await tx.exit;
  await rx.exit;
  const got = new Map<number, Received>();
  for (const line of rx.lines) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as Received;
    got.set(Number(r.dest), r);
  }
  return got;
}

function defaultDest(c: Case): Dest {
  return { id: '', kind: c.kind, name: c.name };
}

export interface ReplyResult {
  /** The reply-to as the responder's client showed it. */
  seen?: string | null;
  /** What the requester got back. */
  reply: { body?: string; correlationId?: unknown; destination?: string; replyToSent?: string };
}

/**
 * Request/reply across protocols: the responder listens on `dest`, the requester sends a request whose reply-to is
 * its own temporary queue (`temp`) or the topic `replyName`, in its own syntax; the responder replies to the reply-to
 * as its client shows it.
 */
export async function requestReply(b: MatrixBroker, requester: Proto, responder: Proto, dest: Dest, reply: 'temp' | 'temp-topic' | 'topic', replyName: string): Promise<ReplyResult> {
  const rIn = responder === 'jms' ? `${dest.kind}\t${hexOf(dest.name)}\n` : JSON.stringify(dest);
  const rx = start(responder, 'respond', portOf(b, responder), rIn, 60_000);
  await rx.marker('READY');
  const qIn = requester === 'jms' ? `${dest.kind}\t${hexOf(dest.name)}\t${reply}\t${hexOf(replyName)}\n` : JSON.stringify({ ...dest, reply, replyName });
  const tx = start(requester, 'request', portOf(b, requester), qIn, 60_000);
  await tx.exit;
  await rx.exit;
  const seen = rx.lines.find((l) => l.startsWith('{'));
  const got = tx.lines.find((l) => l.startsWith('{'));
  return { seen: seen ? (JSON.parse(seen) as { replyTo?: string | null }).replyTo : undefined, reply: got ? JSON.parse(got) : {} };
}

/** Takes one message from `dest` with `p`'s client and goes away without settling it; resolves with the body seen (hex). */
export async function abandon(b: MatrixBroker, p: Proto, dest: Dest): Promise<string | null> {
  const input = p === 'jms' ? `${dest.kind}\t${hexOf(dest.name)}\n` : JSON.stringify(dest);
  const proc = start(p, 'abandon', portOf(b, p), input, 60_000);
  await proc.exit;
  const line = proc.lines.find((l) => l.startsWith('{'));
  return line ? (JSON.parse(line) as { hex: string | null }).hex : null;
}

/** Sends the cases with `p`'s client (nobody need be subscribed: queues keep them). */
export async function sendOnly(b: MatrixBroker, p: Proto, cases: Case[]): Promise<void> {
  await start(p, 'send', portOf(b, p), p === 'jms' ? cases.map(javaCase).join('\n') + '\n' : JSON.stringify(cases), 60_000).exit;
}

/** Receives one message from each destination with `p`'s client. */
export async function receiveOnly(b: MatrixBroker, p: Proto, dests: Dest[]): Promise<Map<number, Received>> {
  const got = new Map<number, Received>();
  for (const r of await receiveList(b, p, dests)) got.set(Number(r.dest), r);
  return got;
}

/** Receives `count` (default 1) messages from each destination with `p`'s client (STOMP only for counts above 1). */
export async function receiveList(b: MatrixBroker, p: Proto, dests: Array<Dest & { count?: number }>): Promise<Received[]> {
  const ds = dests.map((d, i) => ({ ...d, id: String(i) }));
  const input = p === 'jms' ? ds.map((d) => `${d.id}\t${d.kind}\t${hexOf(d.name)}`).join('\n') + '\n' : JSON.stringify(ds);
  const rx = start(p, 'recv', portOf(b, p), input, 90_000);
  await rx.exit;
  return rx.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Received);
}

/** Sends the cases with `sender`; `via` takes each message from its destination and sends it on to `<name>.next`, where `receiver` takes it. */
export async function forwardThrough(b: MatrixBroker, sender: Proto, via: Proto, receiver: Proto, c: Case): Promise<Received | undefined> {
  const next: Dest = { id: '0', kind: c.kind, name: `${c.name}.next` };
  const rxIn = receiver === 'jms' ? `0\t${next.kind}\t${hexOf(next.name)}\n` : JSON.stringify([next]);
  const rx = start(receiver, 'recv', portOf(b, receiver), rxIn, 90_000);
  await rx.marker('READY');
  const fwIn = via === 'jms' ? `${c.kind}\t${hexOf(c.name)}\t${next.kind}\t${hexOf(next.name)}\n` : JSON.stringify({ from: { kind: c.kind, name: c.name }, to: next });
  const fw = start(via, 'forward', portOf(b, via), fwIn, 60_000);
  await fw.marker('READY');
  await sendOnly(b, sender, [c]);
  await fw.exit;
  await rx.exit;
  const line = rx.lines.find((l) => l.startsWith('{'));
  return line ? (JSON.parse(line) as Received) : undefined;
}
