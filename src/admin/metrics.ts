/**
 * `/metrics` in the Prometheus text format. Broker-wide series come from prom-client on a registry of this
 * broker's own (several brokers in one process — tests — do not share metrics). Per-destination series are
 * written by hand from one snapshot per scrape, as RabbitMQ's Prometheus plugin splits them: `/metrics` carries
 * the busiest `admin.metricsTopDestinations` destinations (all of them when there are fewer), and
 * `/metrics/per-destination` every destination. Building yields to the event loop every few thousand series,
 * and concurrent scrapes of the same kind share one build, so 100,000 destinations cannot stall clients.
 */
import client from 'prom-client';
import { type DestinationInfo, type EngineApi } from '../core/api.js';
import type { Sampler } from './sampler.js';


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
  byProtocol: Map<string, number>;
}

type Dest = DestinationInfo & { metricKind: string };

/** Per-destination families: name, help, type, value, and whether topics have it. */
const PER_DEST: Array<{ name: string; help: string; counter?: boolean; queuesOnly?: boolean; pick: (d: DestinationInfo) => number }> = [
  // kind: queue, topic, or subscription (the queue behind a durable/shared/non-durable topic subscription)
  { name: 'wharf_destination_messages', help: 'Messages held (ready, scheduled, in flight, paged): the queue depth', queuesOnly: true, pick: (d) => d.depth },
  { name: 'wharf_destination_messages_ready', help: 'Messages available for delivery now', queuesOnly: true, pick: (d) => d.ready },
  { name: 'wharf_destination_messages_inflight', help: 'Messages delivered and not yet acknowledged', queuesOnly: true, pick: (d) => d.inflight },
  { name: 'wharf_destination_messages_scheduled', help: 'Messages waiting for their delivery time', queuesOnly: true, pick: (d) => d.scheduled },
  { name: 'wharf_destination_bytes', help: 'Approximate size of the messages held, bytes', queuesOnly: true, pick: (d) => d.bytes },
  { name: 'wharf_destination_consumers', help: 'Attached consumers', pick: (d) => d.consumers },
  { name: 'wharf_destination_producers', help: 'Producers registered on the destination', pick: (d) => d.producers },
  { name: 'wharf_destination_enqueued_total', help: 'Messages enqueued (topics: published) since the broker started', counter: true, pick: (d) => d.enqueued },
  { name: 'wharf_destination_dequeued_total', help: 'Messages removed by acknowledgement since the broker started', counter: true, queuesOnly: true, pick: (d) => d.dequeued },
  { name: 'wharf_destination_expired_total', help: 'Messages expired since the broker started', counter: true, queuesOnly: true, pick: (d) => d.expired },
  { name: 'wharf_destination_dead_lettered_total', help: 'Messages moved to a dead-letter queue since the broker started', counter: true, queuesOnly: true, pick: (d) => d.deadLettered },
  { name: 'wharf_destination_dropped_total', help: 'Messages purged or dropped by limits since the broker started', counter: true, queuesOnly: true, pick: (d) => d.dropped },
];

/** Series written between two yields to the event loop. */
const SERIES_PER_SLICE = 4000;

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

const endLine = (t: string) => (t.endsWith('\n') ? t : `${t}\n`);

/** A Prometheus label value: backslash, double quote and newline escaped. */
function labelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

export class AdminMetrics {
  readonly registry = new client.Registry();
  private snap: Snapshot = { byProtocol: new Map() };
  /** The /metrics text being built: concurrent scrapers share it. */
  private building?: Promise<string>;
  private readonly commitLatency: client.Histogram<'result'>;

  constructor(private readonly engine: EngineApi, private readonly sampler: Sampler, version: string, startedAt: number, private readonly topDestinations = 100, refusals: () => Record<string, number> = () => ({})) {
    const registers = [this.registry];
    const self = this;
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

    new client.Gauge<'resource'>({
      name: 'wharf_resource_alarm',
      help: 'A resource alarm is raised (1): disk, store or memory; producers wait while any is',
      labelNames: ['resource'],
      registers,
      collect() {
        this.reset();
        const raised = new Set(self.engine.alarms().map((a) => a.resource));
        for (const resource of ['disk', 'store', 'memory']) this.set({ resource }, raised.has(resource) ? 1 : 0);
      },
    });
    new client.Counter<'reason'>({
      name: 'wharf_connections_refused_total',
      help: 'Client connections refused by the broker-wide limits (total, per-address) or for lack of file descriptors',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(refusals())) this.inc({ reason }, n);
      },
    });
    const logins = (name: string, help: string, pick: (s: ReturnType<EngineApi['loginStats']>) => Record<string, number>) =>
      new client.Counter<'protocol'>({
        name,
        help,
        labelNames: ['protocol'],
        registers,
        collect() {
          this.reset();
          for (const [protocol, n] of Object.entries(pick(self.engine.loginStats()))) this.inc({ protocol }, n);
        },
      });
    logins('wharf_login_failures_total', 'Refused messaging logins by protocol (bad credentials, refused anonymous clients, throttled attempts)', (s) => s.failures);
    logins('wharf_logins_throttled_total', 'Logins refused unchecked: too many failures of the username from the address in the last minute', (s) => s.throttled);
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

  /** `/metrics`: broker-wide series and the busiest destinations. Concurrent scrapes share one build. */
  text(): Promise<string> {
    let p = this.building;
    if (!p) {
      p = this.build().finally(() => (this.building = undefined));
      this.building = p;
    }
    return p;
  }

  private async build(): Promise<string> {
    const own = await this.brokerWide();
    const parts: string[] = [];
    await this.perDestination(await this.selectDestinations(false), (t) => parts.push(t));
    const proc = await processMetrics().metrics();
    return [own, parts.join(''), proc].map(endLine).join('');
  }

  /**
   * `/metrics/per-destination`: every destination, written to `out` a slice at a time as it is built (82 MB of
   * text at 100,000 destinations is never held whole), waiting for the socket to drain.
   */
  async writeAll(out: NodeJS.WritableStream): Promise<void> {
    const write = (t: string) => (out.write(t) ? Promise.resolve() : new Promise<void>((resolve) => out.once('drain', resolve)));
    await write(endLine(await this.brokerWide()));
    await this.perDestination(await this.selectDestinations(true), write);
    await write(endLine(await processMetrics().metrics()));
  }

  private async brokerWide(): Promise<string> {
    const byProtocol = new Map<string, number>();
    for (const c of this.engine.listConnections()) byProtocol.set(c.protocol, (byProtocol.get(c.protocol) ?? 0) + 1);
    this.snap = { byProtocol };
    try {
      return await this.registry.metrics();
    } finally {
      this.snap = { byProtocol: new Map() };
    }
  }

  private async selectDestinations(all: boolean): Promise<Dest[]> {
    const dests: Dest[] = [];
    await this.engine.scanDestinations((infos, what) => {
      for (const d of infos) dests.push(Object.assign(d, { metricKind: what }));
    });
    if (all || dests.length <= this.topDestinations) return dests;
    if (this.topDestinations <= 0) return [];
    // the busiest: most messages held, then most traffic
    return dests.sort((a, b) => b.depth - a.depth || b.enqueued - a.enqueued || b.consumers - a.consumers).slice(0, this.topDestinations);
  }

  private async perDestination(dests: Dest[], emit: (text: string) => unknown): Promise<void> {
    const labels: string[] = new Array(dests.length);
    for (let i = 0; i < dests.length; i++) {
      labels[i] = `{kind="${dests[i].metricKind}",name="${labelValue(dests[i].name)}"}`;
      if (i % SERIES_PER_SLICE === SERIES_PER_SLICE - 1) await yieldToLoop();
    }
    let written = 0;
    for (const f of PER_DEST) {
      let chunk = `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.counter ? 'counter' : 'gauge'}\n`;
      for (let i = 0; i < dests.length; i++) {
        const d = dests[i];
        if (f.queuesOnly && d.metricKind === 'topic') continue;
        chunk += `${f.name}${labels[i]} ${f.pick(d)}\n`;
        if (++written % SERIES_PER_SLICE === 0) {
          await emit(chunk);
          chunk = '';
          await yieldToLoop();
        }
      }
      await emit(chunk);
    }
  }
}
