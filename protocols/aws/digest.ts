/** Hex digests as SQS (MD5 of bodies and attributes) and SigV4 (SHA-256 of payloads and canonical requests) need them. */
import { createHash, hash as oneShotHash } from 'node:crypto';

/** One-shot `crypto.hash` (Node ≥ 20.12) where there is one: no Hash object per digest. */
export const hashHex: (algorithm: string, data: string | Buffer) => string =
  typeof oneShotHash === 'function' ? (a, d) => oneShotHash(a, d, 'hex') : (a, d) => createHash(a).update(d).digest('hex');

/** A one-shot digest as a latin1 string, one character per byte (in Node 20 `crypto.hash` is slower with 'buffer'). */
export const hashLatin1: (algorithm: string, data: Buffer) => string =
  typeof oneShotHash === 'function' ? (a, d) => oneShotHash(a, d, 'binary') : (a, d) => createHash(a).update(d).digest('binary');

export function md5Hex(data: string | Buffer): string {
  return hashHex('md5', data);
}

export function sha256Hex(data: string | Buffer): string {
  return hashHex('sha256', data);
}
