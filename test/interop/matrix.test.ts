/**
 * "A message sent over any protocol can be consumed over any other" (docs/interop.md), checked pair by pair with
 * third-party clients only: python3-stomp, python3-paho-mqtt (3.1.1 and 5), python3-qpid-proton, boto3 (SQS, SNS)
 * and ActiveMQ's JMS client. Every sender sends the same neutral cases (as far as its protocol can express them),
 * every receiver reports what its client saw, and `expectations` states what the documented mapping promises.
 */
import assert from 'node:assert/strict';
import { abandon, forwardThrough, type PropType, receiveList, receiveOnly, requestReply, sendOnly, startMatrixBroker, transfer, type Case, type MatrixBroker, type Proto, type Received } from './matrix-harness.js';

const TEXT = 'héllo ☃ 𝄞 wharf – ünïcödé\nline 2';
const BINARY = '00ff0001fe0a0d3a5c00ff';
const BIG = 1024 * 1024 + 7;
/** A map body; `raw` is binary (hex here): base64 in the JSON other protocols see. */
const MAP = { s: 'str ☃', i: 42, d: 2.5, b: true, raw: '0001ff', f: 1.5, w: 4 };
/** The entries whose type JSON cannot carry: a float, a double with an integral value, binary. */
const MAP_TYPES: Record<string, PropType> = { raw: 'binary', f: 'float', w: 'double' };

/** What each sender can put on the wire. */
const CARRIES: Record<Proto, { headers: boolean; contentType: boolean; typedProps: boolean; props: boolean; binary: boolean; empty: boolean; big: boolean; ttl: boolean; priority: boolean; type: boolean; map: boolean }> = {
  stomp: { headers: true, contentType: true, typedProps: false, props: true, binary: true, empty: true, big: true, ttl: true, priority: true, type: true, map: false },
  mqtt3: { headers: false, contentType: false, typedProps: false, props: false, binary: true, empty: true, big: true, ttl: false, priority: false, type: false, map: false },
  mqtt5: { headers: true, contentType: true, typedProps: false, props: true, binary: true, empty: true, big: true, ttl: true, priority: false, type: false, map: false },
  amqp: { headers: true, contentType: true, typedProps: true, props: true, binary: true, empty: true, big: true, ttl: true, priority: true, type: true, map: true },
  jms: { headers: true, contentType: true, typedProps: true, props: true, binary: true, empty: true, big: true, ttl: true, priority: true, type: true, map: true },
  sqs: { headers: false, contentType: false, typedProps: true, props: true, binary: false, empty: false, big: false, ttl: false, priority: false, type: false, map: false },
  sns: { headers: false, contentType: false, typedProps: true, props: true, binary: false, empty: false, big: false, ttl: false, priority: false, type: false, map: false },
};
const QUEUES: Proto[] = ['stomp', 'amqp', 'jms', 'sqs'];
const TOPICS: Proto[] = ['stomp', 'mqtt3', 'mqtt5', 'amqp', 'jms', 'sns'];
const SENDERS: Proto[] = ['stomp', 'mqtt3', 'mqtt5', 'amqp', 'jms', 'sqs', 'sns'];
const RECEIVERS: Proto[] = ['stomp', 'mqtt3', 'mqtt5', 'amqp', 'jms', 'sqs'];

function kindFor(s: Proto, r: Proto): 'queue' | 'topic' | undefined {
  if (QUEUES.includes(s) && QUEUES.includes(r)) return 'queue';
  if (TOPICS.includes(s) && TOPICS.includes(r)) return 'topic';
  return undefined;
}

type CaseName = 'text' | 'binary' | 'empty' | 'big' | 'map';

function casesFor(s: Proto, r: Proto, kind: 'queue' | 'topic'): Array<[CaseName, Case]> {
  const c = CARRIES[s];
  // SNS topic and SQS queue names allow no dots
  const name = (n: string) => `mx-${s}-${r}-${n}`;
  const out: Array<[CaseName, Case]> = [];
  const text: Case = {
    kind,
    name: name('text'),
    body: { t: 'text', v: TEXT },
    props: [
      ['color', 'string', 'blue ☃'],
      ['n', 'int', 7],
      ['big', 'long', 2 ** 40],
      ['ratio', 'double', 2.5],
      ['flag', 'bool', true],
      ['blob', 'binary', '00ff10'],
    ],
    correlationId: 'corr-☃-1',
    type: 'order.v1',
    priority: 7,
    ttl: 600_000,
    durable: true,
    replyTo: { kind: 'topic', name: 'mx.replies' },
  };
  if (c.contentType) text.contentType = 'text/plain; charset=utf-8';
  // JMS has no binary property type (ActiveMQ's client refuses a byte[] in setObjectProperty)
  if (s === 'jms') text.props = text.props!.filter(([, t]) => t !== 'binary');
  out.push(['text', text]);
  if (c.binary) {
    out.push([
      'binary',
      {
        kind,
        name: name('binary'),
        body: { t: 'bytes', hex: BINARY },
        props: [
          ['x.dot', 'string', 'd'],
          ['x-dash', 'string', 'e'],
          ['x_under', 'string', 'u'],
          ['x:colon', 'string', 'c'],
        ],
        durable: false,
        priority: 2,
        ...(c.contentType ? { contentType: 'application/octet-stream' } : {}),
      },
    ]);
  }
  if (c.empty) out.push(['empty', { kind, name: name('empty'), body: { t: 'empty' } }]);
  if (c.big && r !== 'sqs') out.push(['big', { kind, name: name('big'), body: { t: 'big', n: BIG } }]);
  if (c.map) out.push(['map', { kind, name: name('map'), body: { t: 'map', v: MAP, types: MAP_TYPES } }]);
  return out;
}

function bigHex(n: number): string {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b.toString('hex');
}

function sentHex(c: Case): string {
  const b = c.body;
  if (b.t === 'text') return Buffer.from(b.v, 'utf8').toString('hex');
  if (b.t === 'bytes') return b.hex;
  if (b.t === 'big') return bigHex(b.n);
  return '';
}

/** The body type the core gives the message, per docs/interop.md (sender side). */
function coreBodyType(s: Proto, c: Case): 'text' | 'bytes' | 'empty' | 'map' {
  const t = c.body.t;
  if (t === 'map') return 'map';
  if (s === 'sqs' || s === 'sns') return 'text';
  if (t === 'empty') return s === 'amqp' || s === 'jms' ? 'empty' : s === 'stomp' ? 'text' : 'bytes';
  if (t === 'text') return s === 'mqtt3' ? 'bytes' : 'text';
  return 'bytes';
}

/** The receiving client's own view of that body type. */
function expectedKind(r: Proto, core: string, empty: boolean): string | undefined {
  switch (r) {
    case 'jms':
      return { text: 'text', bytes: 'bytes', empty: 'empty', map: 'map' }[core];
    case 'amqp':
      return { text: 'text', bytes: 'bytes', empty: 'empty', map: 'map' }[core];
    case 'mqtt5':
      // only text bodies go out with Payload Format Indicator 1 (a map's JSON does not)
      return empty ? 'empty' : core === 'text' ? 'text' : 'bytes';
    case 'sqs':
      return empty ? 'empty' : 'text';
    default:
      return empty ? 'empty' : 'bytes';
  }
}

function typeName(s: Proto, r: Proto, t: string): string {
  // SQS and SNS have no boolean attribute type: a boolean is sent as the String "true"
  if (!CARRIES[s].typedProps || ((s === 'sqs' || s === 'sns') && t === 'bool')) t = 'string';
  if (r === 'amqp' && !CARRIES[s].typedProps) return 'str';
  if (r === 'amqp') return { string: 'str', int: 'int32', long: 'int', double: 'float', bool: 'bool', binary: 'bytes' }[t]!;
  if (r === 'jms') return { string: 'String', int: 'Integer', long: 'Long', double: 'Double', bool: 'Boolean', binary: 'byte[]' }[t]!;
  if (r === 'sqs') return { string: 'String', int: 'Number', long: 'Number', double: 'Number', bool: 'String', binary: 'Binary' }[t]!;
  return 'string';
}

function stringForm(v: unknown): string {
  return typeof v === 'boolean' ? String(v) : String(v);
}

/** The mismatches between what a case promised and what a receiver saw. */
function check(s: Proto, r: Proto, cn: CaseName, c: Case, got: Received | undefined): string[] {
  const e: string[] = [];
  const where = `${s}→${r} ${cn}`;
  if (!got) return [`${where}: nothing received`];
  if (got.error) return [`${where}: receiver error ${got.error}`];
  const carries = CARRIES[s];
  const empty = c.body.t === 'empty';
  const core = coreBodyType(s, c);
  const kind = expectedKind(r, core, empty);
  // the body: bytes as sent (a map body: JSON for receivers that have no map type)
  if (core === 'map') {
    if (r === 'amqp' || r === 'jms') {
      const v = (got.value ?? {}) as Record<string, unknown>;
      for (const [k, x] of Object.entries(MAP)) {
        const gv = v[k];
        let val = Array.isArray(gv) ? gv[1] : gv;
        if (k === 'raw') {
          // binary stays binary: a byte[] for JMS, an AMQP binary for AMQP
          const ok = r === 'jms' ? Array.isArray(gv) && gv[0] === 'byte[]' : typeof gv === 'object' && gv !== null && 'binary' in gv;
          if (!ok) e.push(`${where}: map entry raw = ${JSON.stringify(gv)}, sent binary ${x}`);
          val = r === 'jms' ? val : (gv as { binary?: string })?.binary;
        }
        if (stringForm(val) !== stringForm(x)) e.push(`${where}: map entry ${k} = ${JSON.stringify(gv)}, sent ${JSON.stringify(x)}`);
      }
      // the Java / AMQP types survive
      const typeSeen = r === 'jms' ? { f: (v.f as [string])?.[0], w: (v.w as [string])?.[0] } : { f: got.valueTypes?.f, w: got.valueTypes?.w };
      const typeWant = r === 'jms' ? { f: 'Float', w: 'Double' } : { f: 'float32', w: 'float' };
      if (JSON.stringify(typeSeen) !== JSON.stringify(typeWant)) e.push(`${where}: map entry types ${JSON.stringify(typeSeen)}, expected ${JSON.stringify(typeWant)}`);
    } else {
      const text = Buffer.from(got.hex, 'hex').toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        e.push(`${where}: map body is not JSON: ${text.slice(0, 80)}`);
      }
      if (parsed !== undefined) assertJsonLike(parsed, { ...MAP, raw: Buffer.from(MAP.raw, 'hex').toString('base64') }, where, e);
    }
  } else if (r === 'sqs' && core === 'bytes' && got.hex === Buffer.from(Buffer.from(sentHex(c), 'hex').toString('base64')).toString('hex')) {
    // documented: a body that is not valid UTF-8 reaches SQS base64-encoded
  } else if (got.hex !== sentHex(c)) {
    const g = got.hex.length > 80 ? `${got.size} bytes` : got.hex;
    e.push(`${where}: body ${g}, sent ${c.body.t === 'big' ? `${(c.body as { n: number }).n} bytes` : sentHex(c)}`);
  }
  if (kind !== undefined && got.bodyKind !== kind && !(empty && (got.bodyKind === 'empty' || got.size === 0) && kind === 'empty')) {
    e.push(`${where}: body kind ${got.bodyKind}, expected ${kind}`);
  }
  // properties
  const receiverHasProps = r !== 'mqtt3';
  if (carries.props && receiverHasProps) {
    for (const [n, t, v] of c.props ?? []) {
      const p = got.props[n];
      if (r === 'sqs' && !/^[A-Za-z0-9_.-]+$/.test(n)) continue; // documented: left out
      const binary = t === 'binary' && CARRIES[s].typedProps;
      if (binary && r === 'stomp') {
        // documented: binary property values are left out of STOMP headers
        if (p) e.push(`${where}: binary property ${n} reached STOMP as ${JSON.stringify(p)}`);
        continue;
      }
      if (!p) {
        e.push(`${where}: property ${n} missing (got ${Object.keys(got.props).join(',')})`);
        continue;
      }
      const wantType = typeName(s, r, t);
      if (p[0] !== wantType) e.push(`${where}: property ${n} type ${p[0]}, expected ${wantType}`);
      const value = !binary ? p[1] : r === 'amqp' ? (p[1] as { binary?: string }).binary : r === 'mqtt5' ? Buffer.from(String(p[1]), 'base64').toString('hex') : p[1];
      if (stringForm(value) !== stringForm(v)) e.push(`${where}: property ${n} = ${JSON.stringify(p[1])}, sent ${JSON.stringify(v)}`);
    }
  }
  const headers = r === 'stomp' || r === 'mqtt5' || r === 'amqp' || r === 'jms';
  if (carries.headers && headers && c.correlationId !== undefined && got.correlationId !== c.correlationId) {
    e.push(`${where}: correlation id ${JSON.stringify(got.correlationId)}, sent ${c.correlationId}`);
  }
  if (carries.contentType && c.contentType && (r === 'stomp' || r === 'mqtt5' || r === 'amqp') && got.contentType !== c.contentType) {
    e.push(`${where}: content-type ${JSON.stringify(got.contentType)}, sent ${c.contentType}`);
  }
  // JMS has no content-type header: ActiveMQ shows STOMP's as the String property `content-type`
  if (carries.contentType && c.contentType && r === 'jms' && JSON.stringify(got.props['content-type']) !== JSON.stringify(['String', c.contentType])) {
    e.push(`${where}: JMS property content-type ${JSON.stringify(got.props['content-type'])}, sent ${c.contentType}`);
  }
  if (carries.type && c.type && (r === 'stomp' || r === 'amqp' || r === 'jms') && got.type !== c.type) {
    e.push(`${where}: type ${JSON.stringify(got.type)}, sent ${c.type}`);
  }
  if (r === 'stomp' || r === 'amqp' || r === 'jms') {
    const want = carries.priority && c.priority !== undefined ? c.priority : 4;
    if (got.priority !== want) e.push(`${where}: priority ${got.priority}, expected ${want}`);
  }
  if (got.durable !== undefined) {
    const want = s === 'sqs' || s === 'sns' ? true : c.durable ?? true;
    if (got.durable !== want) e.push(`${where}: durable ${got.durable}, expected ${want}`);
  }
  if (carries.ttl && c.ttl && r !== 'mqtt3' && r !== 'sqs') {
    const left = got.expiration ? got.expiration - Date.now() : got.ttl ?? 0;
    if (!(left > 0 && left <= c.ttl + 1000)) e.push(`${where}: expiry ${JSON.stringify({ expiration: got.expiration, ttl: got.ttl })}, sent ttl ${c.ttl}`);
  } else if (s === 'sqs') {
    // documented: an SQS message expires with its queue's MessageRetentionPeriod (4 days by default)
    const left = got.expiration ? got.expiration - Date.now() : got.ttl ?? 0;
    if (r !== 'mqtt3' && r !== 'sqs' && !(left > 3 * 86_400_000 && left <= 4 * 86_400_000)) e.push(`${where}: expiry ${JSON.stringify({ expiration: got.expiration, ttl: got.ttl })}, expected the queue's retention`);
  } else if (got.expiration || (got.ttl && r !== 'amqp')) {
    e.push(`${where}: expiry ${JSON.stringify({ expiration: got.expiration, ttl: got.ttl })}, none sent`);
  }
  if (c.replyTo && carries.headers && headers) {
    const want = replyToIn(r, s, c.replyTo);
    if (want !== undefined && got.replyTo !== want) e.push(`${where}: reply-to ${JSON.stringify(got.replyTo)}, expected ${want}`);
  }
  if (got.redelivered) e.push(`${where}: flagged redelivered on a first delivery`);
  // AMQP → AMQP passes the properties section through unchanged: no message-id when the producer set none
  if ((r === 'stomp' || r === 'amqp' || r === 'jms' || r === 'sqs') && !got.messageId && !(s === 'amqp' && r === 'amqp')) e.push(`${where}: no message id`);
  return e;
}

function replyToIn(r: Proto, s: Proto, rt: { kind: 'queue' | 'topic'; name: string }): string | undefined {
  if (s === 'mqtt5' && rt.kind !== 'topic') return undefined;
  switch (r) {
    case 'stomp':
      return `/${rt.kind}/${rt.name}`;
    case 'amqp':
      return rt.kind === 'queue' ? rt.name : `topic://${rt.name}`;
    case 'jms':
      return `${rt.kind}://${rt.name}`;
    case 'mqtt5':
      return rt.kind === 'topic' ? rt.name.replaceAll('.', '/') : `queue://${rt.name}`;
    default:
      return undefined;
  }
}

function assertJsonLike(got: unknown, want: Record<string, unknown>, where: string, e: string[]): void {
  const g = got as Record<string, unknown>;
  for (const [k, v] of Object.entries(want)) if (stringForm(g?.[k]) !== stringForm(v)) e.push(`${where}: JSON body ${k} = ${JSON.stringify(g?.[k])}, sent ${JSON.stringify(v)}`);
}

describe('interop matrix: every sender × every receiver with third-party clients', function () {
  this.timeout(600_000);
  let b: MatrixBroker;
  before(async () => {
    b = await startMatrixBroker();
  });
  after(async () => {
    await b?.close();
  });

  for (const s of SENDERS) {
    for (const r of RECEIVERS) {
      const kind = kindFor(s, r);
      if (!kind) continue;
      it(`${s} → ${r} (${kind})`, async () => {
        const cases = casesFor(s, r, kind);
        const got = await transfer(b, s, r, cases.map(([, c]) => c));
        const errors = cases.flatMap(([cn, c], i) => check(s, r, cn, c, got.get(i)));
        assert.deepEqual(errors, []);
      });
    }
  }
});

describe('interop matrix: request/reply with reply-to in each protocol\'s own syntax', function () {
  this.timeout(300_000);
  let b: MatrixBroker;
  before(async () => {
    b = await startMatrixBroker();
  });
  after(async () => {
    await b?.close();
  });

  const REQUESTERS: Proto[] = ['stomp', 'mqtt5', 'amqp', 'jms'];
  const RESPONDERS: Proto[] = ['stomp', 'mqtt5', 'amqp', 'jms'];
  /** A reply-to topic as each responder's client shows it. */
  const topicSeen: Partial<Record<Proto, (n: string) => string>> = {
    stomp: (n) => `/topic/${n}`,
    amqp: (n) => `topic://${n}`,
    jms: (n) => `topic://${n}`,
    mqtt5: (n) => n.replaceAll('.', '/'),
  };
  /** A requester's temporary queue as each responder's client shows it (STOMP: ActiveMQ's /remote-temp-queue/). */
  const tempSeen: Partial<Record<Proto, RegExp>> = {
    stomp: /^\/remote-temp-queue\/[^/]+$/,
    amqp: /^temp-queue:\/\/./,
    jms: /^temp-queue:\/\/./,
  };
  for (const q of REQUESTERS) {
    for (const r of RESPONDERS) {
      const kind = q === 'mqtt5' || r === 'mqtt5' ? 'topic' : 'queue';
      // MQTT has no queues: an MQTT responder can answer a topic only, an MQTT requester listens on a topic only
      const modes: Array<'temp' | 'topic'> = q === 'mqtt5' || r === 'mqtt5' ? ['topic'] : ['temp', 'topic'];
      for (const mode of modes) {
        it(`${q} asks, ${r} answers to its ${mode === 'temp' ? 'temporary queue' : 'reply topic'}`, async () => {
          const replyName = `mx.rr.${q}.${r}`;
          const res = await requestReply(b, q, r, { id: '', kind, name: `mx-rr-${q}-${r}-${mode}` }, mode, replyName);
          assert.equal(res.reply.body, `reply from ${r}`, `${JSON.stringify(res)}`);
          assert.equal(res.reply.correlationId, 'req-1');
          if (mode === 'topic') assert.equal(res.seen, topicSeen[r]!(replyName));
          else assert.match(String(res.seen), tempSeen[r]!);
        });
      }
    }
  }
});

describe('interop matrix: an AMQP list body (amqp-value list)', function () {
  this.timeout(300_000);
  let b: MatrixBroker;
  before(async () => {
    b = await startMatrixBroker();
  });
  after(async () => {
    await b?.close();
  });

  const LIST = ['a ☃', 42, 2.5, true, '0001ff'];
  const c = (r: Proto): Case => ({ kind: 'queue', name: `mx-list-${r}`, body: { t: 'list', v: LIST, types: [null, null, null, null, 'binary'] } });

  it('reaches a JMS consumer as a StreamMessage with String, Long, Double, Boolean and byte[] (AMQP long 42: a Long, not an Integer)', async () => {
    const got = (await transfer(b, 'amqp', 'jms', [c('jms')])).get(0);
    assert.equal(got?.bodyKind, 'list');
    assert.deepEqual(got?.value, [['String', 'a ☃'], ['Long', 42], ['Double', 2.5], ['Boolean', true], ['byte[]', '0001ff']]);
  });

  it('reaches an AMQP consumer as the same list', async () => {
    const got = (await transfer(b, 'amqp', 'amqp', [c('amqp')])).get(0);
    assert.equal(got?.bodyKind, 'list');
    assert.deepEqual(got?.value, ['a ☃', 42, 2.5, true, { binary: '0001ff' }]);
  });

  it('reaches STOMP and SQS as JSON (binary base64)', async () => {
    for (const r of ['stomp', 'sqs'] as Proto[]) {
      const got = (await transfer(b, 'amqp', r, [c(r)])).get(0);
      assert.deepEqual(JSON.parse(Buffer.from(got!.hex, 'hex').toString('utf8')), ['a ☃', 42, 2.5, true, 'AAH/'], r);
    }
  });
});

describe('interop matrix: replies to a temporary topic', function () {
  this.timeout(300_000);
  let b: MatrixBroker;
  before(async () => {
    b = await startMatrixBroker();
  });
  after(async () => {
    await b?.close();
  });

  for (const [q, r, seen] of [
    ['stomp', 'jms', /^temp-topic:\/\/./],
    ['stomp', 'amqp', /^temp-topic:\/\/./],
    ['jms', 'stomp', /^\/remote-temp-topic\/./],
    ['jms', 'amqp', /^temp-topic:\/\/./],
  ] as Array<[Proto, Proto, RegExp]>) {
    it(`${q} asks with a temporary topic as reply-to, ${r} answers to it`, async () => {
      const res = await requestReply(b, q, r, { id: '', kind: 'queue', name: `mx-rt-${q}-${r}` }, 'temp-topic', '');
      assert.equal(res.reply.body, `reply from ${r}`, JSON.stringify(res));
      assert.equal(res.reply.correlationId, 'req-1');
      assert.match(String(res.seen), seen);
    });
  }
});

describe('interop matrix: a message one protocol\'s consumer left unsettled is redelivered, flagged, to another', function () {
  this.timeout(300_000);
  let b: MatrixBroker;
  before(async () => {
    b = await startMatrixBroker();
  });
  after(async () => {
    await b?.close();
  });

  const SIDES: Proto[] = ['stomp', 'amqp', 'jms', 'sqs'];
  for (const first of SIDES) {
    for (const then of SIDES) {
      it(`${first} takes it and goes away, ${then} gets it flagged redelivered`, async () => {
        const name = `mx-rd-${first}-${then}`;
        const c: Case = { kind: 'queue', name, body: { t: 'text', v: TEXT } };
        // sent by a third protocol
        await sendOnly(b, first === 'jms' || then === 'jms' ? 'amqp' : 'jms', [c]);
        const seen = await abandon(b, first, { id: '', kind: 'queue', name });
        assert.equal(seen, sentHex(c), `${first} took the message`);
        const got = (await receiveOnly(b, then, [{ id: '', kind: 'queue', name }])).get(0);
        assert.ok(got, `${then} got it again`);
        assert.equal(got.hex, sentHex(c));
        assert.equal(got.redelivered, true, `${then} sees it redelivered: ${JSON.stringify(got)}`);
      });
    }
  }
});

describe('interop matrix: what SQS fetched ahead and gave back is not redelivered', function () {
  this.timeout(300_000);
  let b: MatrixBroker;
  before(async () => {
    b = await startMatrixBroker();
  });
  after(async () => {
    await b?.close();
  });

  it('boto3 receives one of five, STOMP gets the other four (SQS read them ahead) with redelivered:false', async () => {
    const name = 'mx-prefetch';
    const cases: Case[] = [0, 1, 2, 3, 4].map((i) => ({ kind: 'queue', name, body: { t: 'text', v: `m${i}` } }));
    await sendOnly(b, 'amqp', cases);
    const first = (await receiveOnly(b, 'sqs', [{ id: '', kind: 'queue', name }])).get(0);
    assert.ok(first && !first.redelivered);
    // they come back to the queue once SQS receives stop
    const all = await receiveList(b, 'stomp', [{ id: '', kind: 'queue', name, count: 4 }]);
    assert.equal(all.length, 4, JSON.stringify(all));
    for (const m of all) assert.equal(m.redelivered, false, `never handed to an SQS client: ${JSON.stringify(m)}`);
  });
});

describe('interop matrix: typed properties survive a second hop through another protocol', function () {
  this.timeout(300_000);
  let b: MatrixBroker;
  before(async () => {
    b = await startMatrixBroker();
  });
  after(async () => {
    await b?.close();
  });

  const PROPS: NonNullable<Case['props']> = [
    ['pInt', 'int', 7],
    ['pLong', 'long', 3],
    ['pBigLong', 'long', 2 ** 40],
    ['pDouble', 'double', 2.5],
    ['pWholeDouble', 'double', 4],
    ['pFloat', 'float', 1.5],
    ['pByte', 'byte', 1],
    ['pShort', 'short', 2],
    ['pBool', 'bool', true],
    ['pString', 'string', 'x ☃'],
  ];
  const AMQP_TYPES: Record<string, string> = { pInt: 'int32', pLong: 'int', pBigLong: 'int', pDouble: 'float', pWholeDouble: 'float', pFloat: 'float32', pByte: 'byte', pShort: 'short', pBool: 'bool', pString: 'str' };
  const JMS_TYPES: Record<string, string> = { pInt: 'Integer', pLong: 'Long', pBigLong: 'Long', pDouble: 'Double', pWholeDouble: 'Double', pFloat: 'Float', pByte: 'Byte', pShort: 'Short', pBool: 'Boolean', pString: 'String' };

  for (const [sender, via] of [
    ['amqp', 'jms'],
    ['jms', 'amqp'],
    ['amqp', 'amqp'],
    ['jms', 'jms'],
  ] as Array<[Proto, Proto]>) {
    it(`${sender} → ${via} (sends the received message on) → ${sender}: every property keeps its type and value`, async () => {
      const c: Case = { kind: 'queue', name: `mx.hop.${sender}.${via}`, body: { t: 'text', v: TEXT }, props: PROPS };
      const got = await forwardThrough(b, sender, via, sender, c);
      assert.ok(got, 'the forwarded message arrived');
      const types = sender === 'amqp' ? AMQP_TYPES : JMS_TYPES;
      const seen = Object.fromEntries(PROPS.map(([n]) => [n, got.props[n]?.[0]]));
      assert.deepEqual(seen, types);
      for (const [n, , v] of PROPS) assert.equal(String(got.props[n]?.[1]), String(v), n);
      assert.equal(Buffer.from(got.hex, 'hex').toString('utf8'), TEXT);
    });
  }
});

describe('interop matrix: names — MQTT levels ⇄ dotted names, wildcards, special characters', function () {
  this.timeout(300_000);
  let b: MatrixBroker;
  before(async () => {
    b = await startMatrixBroker();
  });
  after(async () => {
    await b?.close();
  });

  const one = (kind: 'queue' | 'topic', name: string): Case => ({ kind, name, body: { t: 'text', v: `to ${name}` } });

  async function expectOne(s: Proto, r: Proto, sent: Case, subscribe: string, topicSeen?: string): Promise<void> {
    const got = (await transfer(b, s, r, [sent], () => ({ id: '', kind: sent.kind, name: subscribe }))).get(0);
    assert.ok(got, `${s} → ${r}: nothing on ${subscribe}`);
    assert.equal(Buffer.from(got.hex, 'hex').toString('utf8'), `to ${sent.name}`);
    if (topicSeen !== undefined) assert.equal(got.topic, topicSeen);
  }

  // MQTT names are given here dotted; the MQTT clients turn every '.' into '/' (mx.w1.a.b is mx/w1/a/b)
  it('an MQTT 5 publish to mx/w1/a/b reaches STOMP mx.w1.>, AMQP mx.w1.*.b, JMS mx.w1.a.* and MQTT 3.1.1 mx/w1/#', async () => {
    const c = one('topic', 'mx.w1.a.b');
    await expectOne('mqtt5', 'stomp', c, 'mx.w1.>');
    await expectOne('mqtt5', 'amqp', c, 'mx.w1.*.b');
    await expectOne('mqtt5', 'jms', c, 'mx.w1.a.*');
    await expectOne('mqtt5', 'mqtt3', c, 'mx.w1.#', 'mx/w1/a/b');
  });

  it('STOMP, AMQP and JMS publishes to topic mx.w2.a.b reach MQTT filters mx/w2/+/b and mx/w2/# as topic mx/w2/a/b', async () => {
    for (const s of ['stomp', 'amqp', 'jms'] as Proto[]) {
      await expectOne(s, 'mqtt5', one('topic', 'mx.w2.a.b'), 'mx.w2.+.b', 'mx/w2/a/b');
      await expectOne(s, 'mqtt3', one('topic', 'mx.w2.a.b'), 'mx.w2.#', 'mx/w2/a/b');
    }
  });

  it('names with spaces, non-ASCII letters, dashes, tildes and colons reach the same queue over STOMP, AMQP and JMS', async () => {
    const names = ['mx.sp ace.ünï', 'mx.dash-under_tilde~', 'mx.colon:x'];
    const protos: Proto[] = ['stomp', 'amqp', 'jms'];
    for (const name of names) {
      for (const s of protos) for (const r of protos) if (s !== r) await expectOne(s, r, one('queue', name), name);
    }
  });
});
