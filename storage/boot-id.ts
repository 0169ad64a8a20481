import fs from 'node:fs';

/**
 * This boot of the OS (Linux's random boot id); undefined where unknown. Two processes that see the same id
 * share one page cache: what a killed process wrote without a flush is still there for the next one, and only
 * an OS crash or power loss (a new id) can have lost it.
 */
export function bootId(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
