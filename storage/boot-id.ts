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

/**
 * Make `file` say which boot unflushed writes are being made under ('unknown' where the id is unknown: it matches
 * no boot). Written whole (temp file, rename) and not flushed: it only has to outlive a process crash; after an OS
 * crash it is an older boot's, missing or torn, and each of those reads as "not this boot".
 */
export function markBoot(file: string): void {
  fs.writeFileSync(`${file}.tmp`, bootId() ?? 'unknown');
  fs.renameSync(`${file}.tmp`, file);
}

/** The boot id `file` holds (see markBoot), or undefined if there is no such file. */
export function markedBoot(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}
