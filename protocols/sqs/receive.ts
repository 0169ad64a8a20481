/**
 * Receiving from SQS queues. Each queue has one long-lived engine consumer in explicit-credit mode: a
 * ReceiveMessage adds credit, collects deliveries (long polling up to WaitTimeSeconds, ended early when the client
 * goes away) and leases them for the visibility timeout; visibility expiry is the core's lease expiry. Standard
 * queues fetch a little ahead so a receive does not wait for the core's redelivery-mark commit; FIFO queues hold
 * back messages of groups in flight; fair queues serve quiet tenants (MessageGroupIds) before noisy ones.
 */
import type { ConsumerHandle, Delivery } from '../../src/core/api.js';
import { queue as queueAddress, parseAddress } from '../../src/core/api.js';
import { md5Hex } from '../aws/digest.js';
import { sqsError } from '../aws/errors.js';
import { bodyText, md5OfAttributes, messageAttributesOf, selectAttributes } from '../aws/message-attributes.js';
import type { Params } from '../aws/params.js';
import { attr, isFifoMeta } from './queue-attributes.js';
import { FAIR_LOOKAHEAD, pickFair, type QueueState, type Waiter } from './queue-state.js';
import type { RequestContext, SqsQueues } from './queues.js';
import { makeReceipt, parseReceipt } from './receipt-handle.js';
import { DEDUP_ID_RE } from './send.js';

const ATTEMPT_WINDOW_MS = 5 * 60 * 1000;
const HOLD_LIMIT = 20_000;
/** Standard queues: most deliveries fetched ahead for receives to come (released after PREFETCH_IDLE_MS without receives). */
const PREFETCH_MAX = 100;
const PREFETCH_IDLE_MS = 1000;
const INFLIGHT_LIMIT_STANDARD = 120_000;
const INFLIGHT_LIMIT_FIFO = 120_000;
/**
 * FIFO receives take this many deliveries more than they return, so a receive can be filled from one group as AWS
 * fills it ("as many messages of the same message group as possible"); the others go back at once.
 */
const FIFO_LOOKAHEAD = 10;

export class Receiver {
  constructor(private readonly q: SqsQueues) {}

  /** End a queue's open receives (queue deleted, service closing). */
  finishWaiters(st: QueueState): void {
    for (const w of [...st.waiters]) w.finish();
  }

  /** Forget expired ReceiveRequestAttemptIds. */
  sweep(now: number): void {
    for (const st of this.q.allStates()) for (const [k, a] of st.attempts) if (a.expires <= now) st.attempts.delete(k);
  }

  close(): void {
    for (const st of this.q.allStates()) {
      this.finishWaiters(st);
      if (st.idleTimer) clearTimeout(st.idleTimer);
    }
  }

  private async ensureConsumer(st: QueueState): Promise<ConsumerHandle> {
    if (st.consumer && !st.consumer.closed) return st.consumer;
    st.starting ??= (async () => {
      const c = await this.q.engine.subscribe({
        address: queueAddress(st.name),
        connection: this.q.connection ?? null,
        credit: 0,
        readAhead: true,
        // a visibility timeout outlives a restart, as on AWS. Not on FIFO queues: the group of a message held back
        // after a restart is not known to be busy there (that is adapter state), so its later messages would
        // overtake it; visible at once keeps the group's order.
        durableLeases: !this.q.isFifo(st.name),
        onMessage: (d) => this.onDelivery(st, d),
        onLeaseExpired: (d) => this.onLeaseExpired(st, d),
        onClose: () => this.onConsumerClosed(st),
      });
      st.consumer = c;
      st.creditAdded = st.creditRemoved = st.delivered = 0;
      return c;
    })().finally(() => {
      st.starting = undefined;
    });
    return st.starting;
  }

  private onConsumerClosed(st: QueueState): void {
    for (const w of [...st.waiters]) {
      w.got.length = 0;
      w.finish();
    }
    st.clearReceipts();
    st.held = [];
    st.groupInflight.clear();
    st.consumer = undefined;
    st.prefetch = 0;
  }

  private addCredit(st: QueueState, n: number): void {
    if (n <= 0 || !st.consumer) return;
    st.creditAdded += n;
    st.consumer.addCredit(n);
  }

  private takeBackCredit(st: QueueState, n: number): void {
    const c = st.consumer;
    if (!c || n <= 0) return;
    const k = Math.min(n, c.credit);
    if (k <= 0) return;
    st.creditRemoved += k;
    c.setCredit(c.credit - k);
  }

  private groupBusy(st: QueueState, gid: string, except?: Waiter): boolean {
    if ((st.groupInflight.get(gid) ?? 0) > 0) return true;
    for (const w of st.waiters) if (w !== except && !w.done && w.groups.has(gid)) return true;
    return false;
  }

  private onDelivery(st: QueueState, d: Delivery): void {
    st.delivered++;
    const fifo = this.q.isFifo(st.name);
    const gid = fifo ? d.message.groupId : undefined;
    let w: Waiter | undefined;
    if (gid !== undefined) {
      w = st.waiters.find((x) => !x.done && x.groups.has(gid) && x.got.length < x.want);
      if (!w) {
        const blocked = this.groupBusy(st, gid) || st.held.some((h) => h.message.groupId === gid);
        if (blocked) {
          st.held.push(d);
          // look further for messages of free groups on behalf of open receives
          this.adjustCredit(st);
          return;
        }
        w = st.waiters.find((x) => !x.done && x.got.length < x.want);
      }
    } else if (!fifo && st.hasNoisyTenant()) {
      // fair queue with a noisy tenant: collect what this dispatch round brings, then serve quiet tenants first
      st.held.push(d);
      this.scheduleFairServe(st);
      return;
    } else {
      w = st.waiters.find((x) => !x.done && x.got.length < x.want);
    }
    if (!w) {
      if (gid === undefined && !fifo && st.held.length < st.prefetch) {
        st.held.push(d); // fetched ahead for the next receive
        return;
      }
      // nobody is waiting any more (the receive ended while the mark commit was pending): give it back
      this.release(st, d);
      this.adjustCredit(st);
      return;
    }
    this.take(st, w, d);
  }

  /**
   * Keep the consumer's outstanding credit at what open receives still want plus the prefetch room (standard
   * queues), counting deliveries already dispatched but not yet arrived.
   */
  private adjustCredit(st: QueueState): void {
    const c = st.consumer;
    if (!c || c.closed) return;
    let want = 0;
    for (const w of st.waiters) if (!w.done) want += w.want - w.got.length;
    const fifo = this.q.isFifo(st.name);
    if (fifo && st.held.length >= HOLD_LIMIT) want = 0;
    const room = fifo ? 0 : Math.max(0, st.prefetch - st.held.length);
    const desired = want + room;
    const outstanding = c.credit + Math.max(0, st.pendingDispatch());
    // Open receives are always covered at once; the read-ahead is topped up only once half of it is used, so the
    // core dispatches in larger rounds (one redelivery-mark commit per round instead of one per receive).
    if (desired > outstanding && (outstanding < want || desired - outstanding >= st.prefetch / 2)) this.addCredit(st, desired - outstanding);
    else if (desired < outstanding) this.takeBackCredit(st, outstanding - desired);
  }

  /** PurgeQueue: delete the messages received and not yet deleted, and those held for busy FIFO groups (one commit). */
  async dropInflight(name: string): Promise<void> {
    const st = this.q.stateOf(name);
    const consumer = st?.consumer;
    if (!st || !consumer) return;
    const tx = this.q.engine.beginTransaction(this.q.connection ?? null);
    const ids = [...st.receipts.keys(), ...st.held.map((d) => d.id)];
    st.clearReceipts();
    st.held = [];
    st.groupInflight.clear();
    for (const id of ids) {
      try {
        tx.ack(consumer, id);
      } catch {
        /* settled meanwhile */
      }
    }
    if (tx.pendingAcks > 0) await tx.commit();
  }

  /** Give back everything fetched ahead (before operations that must see every waiting message: purge, move tasks). */
  quiesce(name: string): void {
    const st = this.q.stateOf(name);
    if (!st) return;
    st.prefetch = 0;
    if (this.q.isFifo(name)) this.releaseHeld(st, (d) => !this.groupBusy(st, d.message.groupId ?? ''));
    else this.releaseHeld(st, () => true);
    this.adjustCredit(st);
  }

  /** A receive came: grow the prefetch with concurrency; release what was fetched ahead once receives stop. */
  private noteReceive(st: QueueState, want: number): void {
    if (this.q.isFifo(st.name)) return;
    const open = st.waiters.filter((w) => !w.done).length + 1;
    if (st.hasNoisyTenant()) st.prefetch = FAIR_LOOKAHEAD; // look past the noisy backlog for quiet tenants
    else st.prefetch = Math.min(PREFETCH_MAX, Math.max(st.prefetch > PREFETCH_MAX ? 0 : st.prefetch, want * Math.max(4, open)));
    if (st.idleTimer) st.idleTimer.refresh();
    else {
      st.idleTimer = setTimeout(() => {
        st.idleTimer = undefined;
        st.prefetch = 0;
        this.releaseHeld(st, () => true);
        this.adjustCredit(st);
      }, PREFETCH_IDLE_MS);
      st.idleTimer.unref();
    }
  }

  /** A FIFO group gets one more message in flight (counted from the moment a receive takes it). */
  private groupTaken(st: QueueState, w: Waiter, gid: string): void {
    w.groups.add(gid);
    st.groupInflight.set(gid, (st.groupInflight.get(gid) ?? 0) + 1);
  }

  private take(st: QueueState, w: Waiter, d: Delivery): void {
    w.got.push(d);
    const gid = this.q.isFifo(st.name) ? d.message.groupId : undefined;
    if (gid !== undefined) this.groupTaken(st, w, gid);
    if (w.got.length >= w.want) {
      w.finish();
      return;
    }
    if (!w.flushScheduled) {
      w.flushScheduled = true;
      setImmediate(() => {
        if (!w.done) w.finish();
      });
    }
  }

  /** Give a delivery the client never saw back to the queue (not counted as a receive, not flagged redelivered). */
  private release(st: QueueState, d: Delivery): void {
    try {
      st.consumer?.nack(d.id, { countFailure: false, redelivered: false, delay: 0, reason: 'prefetch released' });
    } catch {
      /* already settled */
    }
  }

  private releaseHeld(st: QueueState, which: (d: Delivery) => boolean): void {
    if (!st.held.length) return;
    const keep: Delivery[] = [];
    const out: Delivery[] = [];
    for (const d of st.held) (which(d) ? out : keep).push(d);
    st.held = keep;
    for (const d of out) this.release(st, d);
  }

  /** A group's in-flight count dropped: free it when zero, serve or release its held messages. */
  groupDone(st: QueueState, gid: string | undefined, expired: boolean): void {
    if (gid === undefined) return;
    const n = (st.groupInflight.get(gid) ?? 1) - 1;
    if (n > 0) st.groupInflight.set(gid, n);
    else st.groupInflight.delete(gid);
    if (expired) {
      // an earlier message of the group went back to the queue: later ones must queue up behind it again
      this.releaseHeld(st, (h) => h.message.groupId === gid);
      return;
    }
    if (n > 0 || !st.held.some((h) => h.message.groupId === gid)) return;
    const w = st.waiters.find((x) => !x.done && x.got.length < x.want && !this.groupBusy(st, gid, x));
    if (w) this.serveHeld(st, w);
    else this.releaseHeld(st, (h) => h.message.groupId === gid);
  }

  /** Fair queues: after a dispatch round, hand what arrived to the open receives, quiet tenants first. */
  private scheduleFairServe(st: QueueState): void {
    if (st.fairServeScheduled) return;
    st.fairServeScheduled = true;
    setImmediate(() => {
      st.fairServeScheduled = false;
      if (this.q.stateOf(st.name) !== st) return;
      for (const w of [...st.waiters]) {
        if (w.done || w.got.length >= w.want) continue;
        this.serveHeld(st, w);
        if (w.got.length >= w.want) w.finish();
        else if (w.got.length > 0 && !w.flushScheduled) {
          w.flushScheduled = true;
          setImmediate(() => {
            if (!w.done) w.finish();
          });
        }
      }
      this.adjustCredit(st);
    });
  }

  /** Hand held FIFO messages whose group is free (or already this receive's) to a receive. */
  private serveHeld(st: QueueState, w: Waiter): void {
    if (!st.held.length) return;
    if (!this.q.isFifo(st.name)) {
      const n = Math.min(w.want - w.got.length, st.held.length);
      if (n <= 0) return;
      const noisy = st.noisyTenants();
      if (noisy.size === 0) {
        w.got.push(...st.held.splice(0, n));
        return;
      }
      w.got.push(...pickFair(st.held, n, noisy));
      return;
    }
    const keep: Delivery[] = [];
    const blocked = new Set<string>();
    for (const d of st.held) {
      const gid = d.message.groupId!;
      if (w.got.length < w.want && !blocked.has(gid) && (w.groups.has(gid) || !this.groupBusy(st, gid, w))) {
        w.got.push(d);
        this.groupTaken(st, w, gid);
      } else {
        blocked.add(gid);
        keep.push(d);
      }
    }
    st.held = keep;
    if (w.got.length > 0 && !w.flushScheduled) {
      w.flushScheduled = true;
      setImmediate(() => {
        if (!w.done) w.finish();
      });
    }
  }

  private onLeaseExpired(st: QueueState, d: Delivery): void {
    const r = st.receipts.get(d.id);
    if (!r) return;
    st.dropReceipt(d.id);
    st.lapse(r);
    this.groupDone(st, r.groupId, true);
  }
  async receiveMessage(p: Params, ctx: RequestContext): Promise<Record<string, unknown>> {
    const name = this.q.resolveQueue(p, ctx);
    const meta = this.q.meta(name);
    const fifo = isFifoMeta(meta);
    // AWS words these two range errors its own way
    const max = rangedInt(p, 'MaxNumberOfMessages', 1, 10, 'Must be between 1 and 10, if provided.') ?? 1;
    const visibility = p.optInt('VisibilityTimeout', 0, 43200) ?? Number(attr(meta, 'VisibilityTimeout'));
    const wait = rangedInt(p, 'WaitTimeSeconds', 0, 20, 'Must be >= 0 and <= 20, if provided.') ?? Number(attr(meta, 'ReceiveMessageWaitTimeSeconds'));
    const sysNames = [...(p.optStrList('AttributeNames') ?? []), ...(p.optStrList('MessageSystemAttributeNames') ?? [])];
    const attrNames = p.optStrList('MessageAttributeNames');
    // AWS selects no attribute for a name no attribute can have (`AWS.`, `..foo`) rather than refusing it
    const attemptId = p.optStr('ReceiveRequestAttemptId');
    if (attemptId !== undefined && !DEDUP_ID_RE.test(attemptId)) throw p.invalid('ReceiveRequestAttemptId', 'must be 1 to 128 printable ASCII characters.', attemptId);
    const st = this.q.state(name);
    if (fifo && attemptId !== undefined) {
      const prev = st.attempts.get(attemptId);
      if (prev && prev.expires > Date.now()) {
        const still = prev.handles.every((h) => {
          try {
            const { id, nonce } = parseReceipt(name, h);
            return st.receipts.get(id)?.nonce === nonce;
          } catch {
            return false;
          }
        });
        if (still) {
          for (const h of prev.handles) {
            const { id } = parseReceipt(name, h);
            if (visibility > 0) st.consumer?.extendLease(id, visibility * 1000);
          }
          return prev.messages.length ? { Messages: prev.messages } : {};
        }
      }
    }
    if (st.receipts.size >= (fifo ? INFLIGHT_LIMIT_FIFO : INFLIGHT_LIMIT_STANDARD)) {
      throw sqsError('OverLimit', `Too many messages in flight for queue ${name} (at most ${fifo ? INFLIGHT_LIMIT_FIFO : INFLIGHT_LIMIT_STANDARD}).`);
    }
    const consumer = await this.ensureConsumer(st);
    const collected = await this.collect(st, consumer, max, wait, () => ctx.signal);
    // AWS returns a FIFO receive's messages of one group together (in the order their groups first came)
    const got = fifo ? groupedInOrder(collected) : collected;
    const messages: Record<string, unknown>[] = [];
    const handles: string[] = [];
    const now = Date.now();
    for (const d of got) {
      const r = makeReceipt(st, d, fifo);
      st.addReceipt(r);
      const ann = (d.message.annotations ??= {});
      if (ann['sqs.firstReceive'] === undefined) ann['sqs.firstReceive'] = now;
      handles.push(r.handle);
      messages.push(this.renderMessage(name, d, r.handle, sysNames, attrNames));
    }
    consumer.handedOut(got.map((d) => d.id));
    // leases start now; a visibility timeout of 0 makes them visible again at once (still counted as received)
    for (const d of got) {
      if (visibility > 0) {
        try {
          consumer.extendLease(d.id, visibility * 1000);
        } catch {
          /* settled meanwhile */
        }
      }
    }
    if (visibility === 0) {
      for (const d of got) {
        const r = st.receipts.get(d.id);
        st.dropReceipt(d.id);
        if (r) st.lapse(r);
        try {
          consumer.nack(d.id, { countFailure: true, delay: 0, reason: 'visibility timeout 0' });
        } catch {
          /* settled */
        }
        this.groupDone(st, r?.groupId, true);
      }
    }
    if (fifo && attemptId !== undefined) st.attempts.set(attemptId, { expires: now + ATTEMPT_WINDOW_MS, handles, messages });
    return messages.length ? { Messages: messages } : {};
  }

  /**
   * Wait for up to `max` deliveries: return as soon as some arrived (or `wait` seconds passed). `signalOf` gives the
   * request's abort signal; only a receive that has to wait asks for it (an AbortSignal per request is not free).
   */
  private collect(st: QueueState, consumer: ConsumerHandle, max: number, wait: number, signalOf?: () => AbortSignal | undefined): Promise<Delivery[]> {
    return new Promise<Delivery[]>((resolve) => {
      let signal: AbortSignal | undefined;
      const fifoQueue = this.q.isFifo(st.name);
      const w: Waiter = {
        want: fifoQueue ? max + FIFO_LOOKAHEAD : max,
        keep: fifoQueue ? max : undefined,
        got: [],
        groups: new Set(),
        done: false,
        flushScheduled: false,
        finish: () => {
          if (w.done) return;
          w.done = true;
          if (w.timer) clearTimeout(w.timer);
          const i = st.waiters.indexOf(w);
          if (i >= 0) st.waiters.splice(i, 1);
          signal?.removeEventListener('abort', onAbort);
          if (aborted) {
            const fifo = this.q.isFifo(st.name);
            for (const d of w.got) {
              this.release(st, d);
              if (fifo) this.groupDone(st, d.message.groupId, true);
            }
            this.adjustCredit(st);
            resolve([]);
            return;
          }
          if (w.keep !== undefined && w.got.length > w.keep) {
            const chosen = groupedInOrder(w.got);
            w.got = chosen.slice(0, w.keep);
            for (const d of chosen.slice(w.keep)) {
              this.release(st, d);
              this.groupDone(st, d.message.groupId, true);
            }
          }
          this.adjustCredit(st);
          resolve(w.got);
        },
      };
      let aborted = false;
      const onAbort = () => {
        aborted = true;
        w.finish();
      };
      this.noteReceive(st, max);
      st.waiters.push(w);
      this.serveHeld(st, w);
      if (w.got.length >= w.want) {
        w.finish();
        return;
      }
      if (w.done) return;
      signal = signalOf?.();
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort);
      if (w.got.length > 0 && !w.flushScheduled) {
        w.flushScheduled = true;
        setImmediate(() => {
          if (!w.done) w.finish();
        });
      }
      this.adjustCredit(st);
      if (wait > 0) {
        w.timer = setTimeout(() => w.finish(), wait * 1000);
      } else {
        // short poll: dispatch runs on a microtask; deliveries waiting for their mark commit come a little later
        let rounds = 0;
        const check = () => {
          if (w.done) return;
          if (w.got.length > 0) return; // flush already scheduled
          if (st.pendingDispatch() > 0 && rounds++ < 200) {
            w.timer = setTimeout(check, 5);
            return;
          }
          w.finish();
        };
        setImmediate(check);
      }
    });
  }

  private renderMessage(name: string, d: Delivery, handle: string, sysNames: string[], attrNames: string[] | undefined): Record<string, unknown> {
    const m = d.message;
    const ann = m.annotations ?? {};
    const body = bodyText(m);
    const out: Record<string, unknown> = {
      MessageId: m.messageId,
      ReceiptHandle: handle,
      MD5OfBody: (ann['sqs.md5'] as string | undefined) ?? md5Hex(body),
      Body: body,
    };
    if (sysNames.length) {
      const all = sysNames.includes('All');
      const want = (n: string) => all || sysNames.includes(n);
      const a: Record<string, string> = {};
      if (want('SenderId')) a.SenderId = (ann['sqs.sender'] as string | undefined) ?? m.userId ?? this.q.accountId;
      if (want('SentTimestamp')) a.SentTimestamp = String(m.timestamp);
      if (want('ApproximateReceiveCount')) {
        // AWS: a dead-lettered message keeps counting the receives it had in its source queue
        const before = ann['sqs.md5'] !== undefined && typeof m.properties.originalDeliveryCount === 'number' ? m.properties.originalDeliveryCount : 0;
        // a message flagged redelivered without a counted failure (a STOMP/JMS/AMQP consumer took it and went away)
        // was received before: at least 2, as AMQP's delivery-count shows it at least 1
        a.ApproximateReceiveCount = String(before + Math.max(d.deliveryCount, d.redelivered ? 1 : 0) + 1);
      }
      if (want('ApproximateFirstReceiveTimestamp')) a.ApproximateFirstReceiveTimestamp = String(ann['sqs.firstReceive'] ?? Date.now());
      if (want('SequenceNumber') && ann['sqs.seq'] !== undefined) a.SequenceNumber = String(ann['sqs.seq']);
      if (want('MessageDeduplicationId') && ann['sqs.dedup'] !== undefined) a.MessageDeduplicationId = String(ann['sqs.dedup']);
      if (want('MessageGroupId')) {
        const g = (ann['sqs.group'] as string | undefined) ?? m.groupId;
        if (g !== undefined) a.MessageGroupId = g;
      }
      if (want('AWSTraceHeader') && ann['sqs.trace'] !== undefined) a.AWSTraceHeader = String(ann['sqs.trace']);
      if (want('DeadLetterQueueSourceArn') && typeof m.properties.originalDestination === 'string') {
        const src = parseAddress(m.properties.originalDestination);
        if (src.kind === 'queue' && src.name !== name) a.DeadLetterQueueSourceArn = this.q.queueArn(src.name);
      }
      if (Object.keys(a).length) out.Attributes = a;
    }
    const selected = selectAttributes(messageAttributesOf(m), attrNames);
    if (selected) {
      out.MD5OfMessageAttributes = md5OfAttributes(selected);
      const ma: Record<string, unknown> = Object.create(null); // `__proto__` is a name AWS allows
      for (const [k, v] of Object.entries(selected)) {
        ma[k] = v.BinaryValue !== undefined ? { DataType: v.DataType, BinaryValue: Buffer.from(v.BinaryValue).toString('base64') } : { DataType: v.DataType, StringValue: v.StringValue };
      }
      out.MessageAttributes = ma;
    }
    return out;
  }
}

/** An optional integer parameter whose out-of-range error has AWS's own reason. */
function rangedInt(p: Params, name: string, min: number, max: number, reason: string): number | undefined {
  const n = p.optInt(name, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  if (n !== undefined && (n < min || n > max)) throw p.invalid(name, reason, String(n));
  return n;
}

/** Deliveries with those of one FIFO group together, each group where its first message was, each in its order. */
function groupedInOrder(got: Delivery[]): Delivery[] {
  if (got.length < 2) return got;
  const groups = new Map<string | undefined, Delivery[]>();
  for (const d of got) {
    const g = groups.get(d.message.groupId);
    if (g) g.push(d);
    else groups.set(d.message.groupId, [d]);
  }
  return groups.size === 1 ? got : [...groups.values()].flat();
}
