/**
 * Client certificates made for a test with openssl: leaves signed by the fixture CA (test/fixtures/tls/ca.*), which
 * the broker's TLS listeners trust, and one from a CA of its own that nobody trusts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tlsFixture } from '../helpers/broker.js';

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

export class TestCertificates {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'wharf-certs-'));
  private rogueCa?: { crt: string; key: string };

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }

  /** A client certificate (EC P-256, clientAuth) for `subject` (openssl form, `/O=Acme/CN=alice`), signed by the trusted fixture CA or by a CA nobody trusts. */
  client(name: string, subject: string, signer: 'trusted' | 'rogue' = 'trusted'): KeyPair {
    const key = path.join(this.dir, `${name}.key`);
    const csr = path.join(this.dir, `${name}.csr`);
    const crt = path.join(this.dir, `${name}.crt`);
    const ext = path.join(this.dir, `${name}.ext`);
    writeFileSync(ext, 'extendedKeyUsage=clientAuth\n');
    this.openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
    const ca = signer === 'trusted' ? { crt: tlsFixture('ca.crt'), key: tlsFixture('ca.key') } : this.rogue();
    this.openssl(['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-out', crt, '-extfile', ext]);
    return { cert: readFileSync(crt), key: readFileSync(key) };
  }

  private rogue(): { crt: string; key: string } {
    if (!this.rogueCa) {
      const crt = path.join(this.dir, 'rogue-ca.crt');
      const key = path.join(this.dir, 'rogue-ca.key');
      // the same name as the real CA: only the signature tells them apart
      this.openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=Wharf Test CA']);
      this.rogueCa = { crt, key };
    }
    return this.rogueCa;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
