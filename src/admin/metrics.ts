/**
 * `/metrics` in the Prometheus text format, built with prom-client on a registry of this broker's own (several
 * brokers in one process — tests — do not share metrics). Values are read from the engine at scrape time:
 * one snapshot of every destination per scrape, shared by all per-destination metric families.
 */
import client from 'prom-client';
import { type DestinationInfo, type EngineApi } from '../core/api.js';
import type { Sampler } from './sampler.js';

type Labels = 'kind' | 'name';

/**
 * Node.js process metrics (CPU, memory, event-loop lag, GC) — one registry per process: collectDefaultMetrics
 * starts observers that are never stopped, so several brokers in one process (tests) share it.
 */
let processRegistry: client.Registry | undefined;
function processMetrics(): client.Registry {
  if (!processRegistry) {
    processRegistry = new client.Registry();
    client.collectDefaultMetrics({ register: processRegistry, prefix: 'wharf_' });
  }
  return processRegistry;
}

interface Snapshot {
  dests: Array<DestinationInfo & { metricKind: string }>;
  byProtocol: Map<string, number>;
}

export class AdminMetrics {
  readonly registry = new client.Registry();
  private snap: Snapshot = { dests: [], byProtocol: new Map() };
  private readonly commitLatency: client.Histogram<'result'>;

  constructor(private readonly engine: EngineApi, private readonly sampler: Sampler, version: string, startedAt: number) {
    const registers = [this.registry];
    const self = this;
    const perDest = (name: string, help: string, pick: (d: DestinationInfo) => number, opts: { counter?: boolean; queuesOnly?: boolean } = {}) => {
      const collect = function (this: client.Gauge<Labels> | client.Counter<Labels>) {
        this.reset();
        for (const d of self.snap.dests) {
          if (opts.queuesOnly && d.metricKind === 'topic') continue;
          const v = pick(d);
          if (this instanceof client.Counter) this.inc({ kind: d.metricKind, name: d.name }, v);
          else (this as client.Gauge<Labels>).set({ kind: d.metricKind, name: d.name }, v);
        }
      };
      if (opts.counter) new client.Counter<Labels>({ name, help, labelNames: ['kind', 'name'], registers, collect });
      else new client.Gauge<Labels>({ name, help, labelNames: ['kind', 'name'], registers, collect });
    };
    // kind: queue, topic, or subscription (the queue behind a durable/shared/non-durable topic subscription)
    perDest('wharf_destination_messages', 'Messages held (ready, scheduled, in flight, paged): the queue depth', (d) => d.depth, { queuesOnly: true });
    perDest('wharf_destination_messages_ready', 'Messages available for delivery now', (d) => d.ready, { queuesOnly: true });
    perDest('wharf_destination_messages_inflight', 'Messages delivered and not yet acknowledged', (d) => d.inflight, { queuesOnly: true });
    perDest('wharf_destination_messages_scheduled', 'Messages waiting for their delivery time', (d) => d.scheduled, { queuesOnly: true });
    perDest('wharf_destination_bytes', 'Approximate size of the messages held, bytes', (d) => d.bytes, { queuesOnly: true });
    perDest('wharf_destination_consumers', 'Attached consumers', (d) => d.consumers);
    perDest('wharf_destination_producers', 'Producers registered on the destination', (d) => d.producers);
    perDest('wharf_destination_enqueued_total', 'Messages enqueued (topics: published) since the broker started', (d) => d.enqueued, { counter: true });
    perDest('wharf_destination_dequeued_total', 'Messages removed by acknowledgement since the broker started', (d) => d.dequeued, { counter: true, queuesOnly: true });
    perDest('wharf_destination_expired_total', 'Messages expired since the broker started', (d) => d.expired, { counter: true, queuesOnly: true });
    perDest('wharf_destination_dead_lettered_total', 'Messages moved to a dead-letter queue since the broker started', (d) => d.deadLettered, { counter: true, queuesOnly: true });
    perDest('wharf_destination_dropped_total', 'Messages purged or dropped by limits since the broker started', (d) => d.dropped, { counter: true, queuesOnly: true });

    new client.Gauge<'protocol'>({
      name: 'wharf_connections',
      help: 'Open client connections by protocol',
      labelNames: ['protocol'],
      registers,
      collect() {
        this.reset();
        for (const [p, n] of self.snap.byProtocol) this.set({ protocol: p }, n);
      },
    });
    const traffic = (name: string, help: string, pick: (t: ReturnType<Sampler['traffic']>) => number) =>
      new client.Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(pick(self.sampler.traffic()));
        },
      });
    traffic('wharf_received_bytes_total', 'Message body bytes received from clients', (t) => t.bytesIn);
    traffic('wharf_sent_bytes_total', 'Message body bytes delivered to clients', (t) => t.bytesOut);
    traffic('wharf_received_messages_total', 'Messages received from clients', (t) => t.messagesIn);
    traffic('wharf_sent_messages_total', 'Messages delivered to clients', (t) => t.messagesOut);

    const totals = (name: string, help: string, key: keyof EngineApi['totals']) =>
      new client.Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(self.engine.totals[key]);
        },
      });
    totals('wharf_messages_enqueued_total', 'Messages enqueued into queues and subscriptions (one per target)', 'enqueued');
    totals('wharf_messages_delivered_total', 'Deliveries to consumers (redeliveries included)', 'delivered');
    totals('wharf_messages_dead_lettered_total', 'Messages dead-lettered', 'deadLettered');

    new client.Gauge({
      name: 'wharf_store_size_bytes',
      help: 'Size of the message store on disk, bytes',
      registers,
      collect() {
        this.set(self.engine.storeSize());
      },
    });
    new client.Gauge({
      name: 'wharf_destinations',
      help: 'Destinations by kind',
      labelNames: ['kind'],
      registers,
      collect() {
        const o = self.engine.overview();
        this.set({ kind: 'queue' }, o.queues);
        this.set({ kind: 'topic' }, o.topics);
        this.set({ kind: 'subscription' }, o.subscriptions);
      },
    });
    this.commitLatency = new client.Histogram<'result'>({
      name: 'wharf_store_commit_duration_seconds',
      help: 'Time from a store commit request to its durable completion (group commit + fsync), seconds',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    new client.Gauge({
      name: 'wharf_info',
      help: 'Broker build information',
      labelNames: ['version'],
      registers,
      collect() {
        this.set({ version }, 1);
      },
    });
    new client.Gauge({
      name: 'wharf_uptime_seconds',
      help: 'Seconds since the broker started',
      registers,
      collect() {
        this.set((Date.now() - startedAt) / 1000);
      },
    });
  }

  start(): void {
    this.engine.commitObserver = (seconds, ok) => this.commitLatency.observe({ result: ok ? 'ok' : 'error' }, seconds);
  }

  stop(): void {
    this.engine.commitObserver = null;
    this.registry.clear();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async text(): Promise<string> {
    const dests: Snapshot['dests'] = [];
    for (const d of this.engine.listDestinations()) dests.push({ ...d, metricKind: d.kind });
    for (const s of this.engine.listSubscriptions()) dests.push({ ...s, metricKind: 'subscription' });
    const byProtocol = new Map<string, number>();
    for (const c of this.engine.listConnections()) byProtocol.set(c.protocol, (byProtocol.get(c.protocol) ?? 0) + 1);
    this.snap = { dests, byProtocol };
    try {
      const own = await this.registry.metrics();
      const proc = await processMetrics().metrics();
      return own.endsWith('\n') ? own + proc : `${own}\n${proc}`;
    } finally {
      this.snap = { dests: [], byProtocol: new Map() };
    }
  }
}
