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

export function filesystem(dir: string): { total: number; free: number } | null {
  try {
    const s = fs.statfsSync(dir);
    return { total: s.blocks * s.bsize, free: s.bavail * s.bsize };
  } catch {
    return null;
  }
}

export const fmt = (n: number) => (n >= GiB ? `${(n / GiB).toFixed(1)} GiB` : `${(n / MiB).toFixed(1)} MiB`);

/** The free-disk floor for a data directory on a filesystem (`fsInfo` null: unknown). */
export function minFreeDiskFor(limits: Pick<ResourceLimits, 'minFreeDisk'>, fsInfo: { total: number } | null): number {
  return limits.minFreeDisk > 0 ? limits.minFreeDisk : fsInfo ? derivedMinFreeDisk(fsInfo.total) : 64 * MiB;
}

/** Why the disk alarm is up for this filesystem, or null. */
export function diskAlarm(fsInfo: { free: number }, minFreeDisk: number): string | null {
  return fsInfo.free < minFreeDisk ? `${fmt(fsInfo.free)} free on the data directory's disk, under resources.minFreeDisk ${fmt(minFreeDisk)}` : null;
}

export class ResourceMonitor {
  private timer: NodeJS.Timeout | null = null;
  readonly minFreeDisk: number;
  readonly maxStoreBytes: number;
  readonly memoryHighWater: number;

  /**
   * `peerDiskAlarm`: on a cluster leader, why another member's disk is low (null: none is). Like RabbitMQ's disk
   * alarm, one node short of disk blocks publishers cluster-wide: every member stores every message.
   */
  constructor(
    private readonly engine: Engine,
    private readonly dataDir: string,
    limits: ResourceLimits,
    log?: Logger,
    private readonly peerDiskAlarm?: () => string | null,
  ) {
    const fsInfo = filesystem(dataDir);
    this.minFreeDisk = minFreeDiskFor(limits, fsInfo);
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
    const local = fsInfo ? diskAlarm(fsInfo, this.minFreeDisk) : null;
    if (fsInfo || this.peerDiskAlarm) this.engine.setAlarm('disk', local ?? this.peerDiskAlarm?.() ?? null);
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
