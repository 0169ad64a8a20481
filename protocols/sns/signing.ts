/**
 * The key that signs SNS messages (notifications, subscription confirmations) and the self-signed X.509
 * certificate the broker serves at SigningCertURL, so subscribers can verify signatures as they do with AWS.
 * Generated once (RSA 2048) and kept in the engine's kv store; the certificate is built with a small DER encoder.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n >>= 8;
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), len(content.length), content]);
}

const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => tlv(0x31, Buffer.concat(parts));

function oid(s: string): Buffer {
  const p = s.split('.').map(Number);
  const out: number[] = [40 * p[0] + p[1]];
  for (const v of p.slice(2)) {
    const chunk: number[] = [v & 0x7f];
    let x = v >> 7;
    while (x > 0) {
      chunk.unshift((x & 0x7f) | 0x80);
      x >>= 7;
    }
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function integer(b: Buffer): Buffer {
  let x = b;
  while (x.length > 1 && x[0] === 0 && !(x[1] & 0x80)) x = x.subarray(1);
  if (x[0] & 0x80) x = Buffer.concat([Buffer.from([0]), x]);
  return tlv(0x02, x);
}

function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, 'ascii'));
}

function name(cn: string): Buffer {
  return seq(set(seq(oid('2.5.4.10'), tlv(0x0c, Buffer.from('Wharf', 'utf8')))), set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))));
}

/** A self-signed certificate (PEM) for `key`, valid for ten years. */
export function selfSignedCertificate(key: KeyObject, cn: string): string {
  const pub = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const alg = seq(oid('1.2.840.113549.1.1.11'), Buffer.from([0x05, 0x00])); // sha256WithRSAEncryption
  const now = new Date(Date.now() - 60_000);
  const later = new Date(now.getTime() + 10 * 365 * 24 * 3600 * 1000);
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    alg,
    name(cn),
    seq(utcTime(now), utcTime(later)),
    name(cn),
    pub,
  );
  const sig = sign('sha256', tbs, key);
  const cert = seq(tbs, alg, tlv(0x03, Buffer.concat([Buffer.from([0]), sig])));
  const b64 = cert.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

export interface SigningMaterial {
  keyPem: string;
  certPem: string;
}

export function generateSigningMaterial(cn = 'sns.wharf.local'): SigningMaterial {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { keyPem, certPem: selfSignedCertificate(privateKey, cn) };
}

export class Signer {
  private readonly key: KeyObject;
  constructor(readonly material: SigningMaterial) {
    this.key = createPrivateKey(material.keyPem);
  }
  /** SNS SignatureVersion 1 (SHA1withRSA) or 2 (SHA256withRSA), base64. */
  sign(stringToSign: string, version: '1' | '2'): string {
    return sign(version === '2' ? 'sha256' : 'sha1', Buffer.from(stringToSign, 'utf8'), this.key).toString('base64');
  }
}

/** The string SNS signs: the listed keys present in the message, each as `Key\nValue\n`, in this order. */
export function stringToSign(msg: Record<string, unknown>): string {
  const keys =
    msg.Type === 'Notification'
      ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type']
      : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  let s = '';
  for (const k of keys) if (msg[k] !== undefined) s += `${k}\n${String(msg[k])}\n`;
  return s;
}
