/**
 * Password hashes (`scrypt$N$r$p$salt$hash`, made by `wharf hash-password`) and loopback addresses: shared by the
 * messaging user database (security.ts) and the admin console (through api.ts).
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** The form of a password hash `wharf hash-password` makes: scrypt$N$r$p$salt$hash. */
export const PASSWORD_HASH_PATTERN = /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/;

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$N$r$p$salt$hash` for a password (N=16384, r=8, p=1, 16-byte salt, 32-byte key). */
export async function hashPassword(password: string): Promise<string> {
  const N = 16384, r = 8, p = 1;
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 32, { N, r, p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (!PASSWORD_HASH_PATTERN.test(hash)) return false;
  const [, n, r, p, saltB64, keyB64] = hash.split('$');
  const N = Number(n), R = Number(r), P = Number(p);
  // refuse parameters that would let a config file make every login burn memory/CPU
  if (!(N >= 2 && N <= 1 << 20 && (N & (N - 1)) === 0 && R >= 1 && R <= 32 && P >= 1 && P <= 16)) return false;
  const expected = Buffer.from(keyB64, 'base64');
  if (expected.length < 16) return false;
  try {
    const got = await scrypt(password, Buffer.from(saltB64, 'base64'), expected.length, { N, r: R, p: P, maxmem: 256 * N * R + 64 * 1024 * 1024 });
    return timingSafeEqual(got, expected);
  } catch {
    return false;
  }
}

/** Loopback peers: 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return a === '::1' || a.startsWith('127.');
}
