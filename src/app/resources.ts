/**
 * The resource monitor: watches free disk space on the data directory, the bytes of messages the store holds,
 * and the process's memory, and raises the engine's alarms (see src/core/alarms.ts) when a limit is crossed;
 * they clear by themselves once the resource is back under its limit. RabbitMQ's disk and memory alarms and
 * ActiveMQ's storeUsage/memoryUsage, on one broker-wide switch.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { Logger } from 'pino';
import type { Engine } from '../core/engine.js';

export interface ResourceLimits {
  /** Raise the disk alarm below this many free bytes on the data directory's filesystem; 0 = derived from its size. */
  minFreeDisk: number;
  /** Raise the store alarm above this many bytes of stored messages; 0 = derived (half the filesystem). */
  maxStoreBytes: number;
  /** Raise the memory alarm above this resident size: a fraction of the machine's memory (< 1) or bytes; 0 = off. */
  memoryHighWater: number;
  /** How often the resources are read, ms. */
  checkInterval: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Free-disk floor for a filesystem of `total` bytes: 2 % of it, at least 64 MiB, at most 2 GiB. */
export function derivedMinFreeDisk(total: number): number {
  return Math.min(2 * GiB, Math.max(64 * MiB, Math.floor(total * 0.02)));
}

function filesystem(dir: string): { total: number; free: number } | null {
  try {
    const s = fs.statfsSync(dir);
    return { total: s.blocks * s.bsize, free: s.bavail * s.bsize };
  } catch {
    return null;
  }
}

const fmt = (n: number) => (n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${(n / MiB).toFixed(1)} MiB`);

export class ResourceMonitor {
  private timer: NodeJS.Timeout | null = null;
  readonly minFreeDisk: number;
  readonly maxStoreBytes: number;
  readonly memoryHighWater: number;

  constructor(private readonly engine: Engine, private readonly dataDir: string, limits: ResourceLimits, log?: Logger) {
    const fsInfo = filesystem(dataDir);
    this.minFreeDisk = limits.minFreeDisk > 0 ? limits.minFreeDisk : fsInfo ? derivedMinFreeDisk(fsInfo.total) : 64 * MiB;
    this.maxStoreBytes = limits.maxStoreBytes > 0 ? limits.maxStoreBytes : fsInfo ? Math.floor(fsInfo.total / 2) : 0;
    const hw = limits.memoryHighWater;
    this.memoryHighWater = hw <= 0 ? 0 : hw < 1 ? Math.floor(os.totalmem() * hw) : hw;
    this.check();
    this.timer = setInterval(() => this.check(), limits.checkInterval);
    this.timer.unref();
    log?.info({ minFreeDisk: this.minFreeDisk, maxStoreBytes: this.maxStoreBytes, memoryHighWater: this.memoryHighWater }, `resource alarms: free disk under ${fmt(this.minFreeDisk)}, stored messages over ${this.maxStoreBytes ? fmt(this.maxStoreBytes) : 'no limit'}, memory over ${this.memoryHighWater ? fmt(this.memoryHighWater) : 'no limit'}`);
  }

  check(): void {
    const fsInfo = filesystem(this.dataDir);
    if (fsInfo) {
      this.engine.setAlarm('disk', fsInfo.free < this.minFreeDisk ? `${fmt(fsInfo.free)} free on the data directory's disk, under resources.minFreeDisk ${fmt(this.minFreeDisk)}` : null);
    }
    if (this.maxStoreBytes > 0) {
      const stored = this.engine.storedMessageBytes();
      this.engine.setAlarm('store', stored > this.maxStoreBytes ? `${fmt(stored)} of messages stored, over resources.maxStoreBytes ${fmt(this.maxStoreBytes)}` : null);
    }
    if (this.memoryHighWater > 0) {
      const rss = process.memoryUsage.rss();
      this.engine.setAlarm('memory', rss > this.memoryHighWater ? `${fmt(rss)} resident, over resources.memoryHighWater ${fmt(this.memoryHighWater)}` : null);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
