/**
 * Client certificates made for a test with openssl: leaves signed by the fixture CA (test/fixtures/tls/ca.*), which
 * the broker's TLS listeners trust, and one from a CA of its own that nobody trusts.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    // the serial file goes to the temp dir, never next to the fixture CA
    this.openssl(['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAserial', path.join(this.dir, 'ca.srl'), '-CAcreateserial', '-days', '2', '-out', crt, '-extfile', ext]);
    return { cert: readFileSync(crt), key: readFileSync(key) };
  }

  /** Java's view of a client certificate: a PKCS#12 key store with it, and a trust store with the fixture CA. */
  javaStores(name: string, pair: KeyPair): string[] {
    const crt = path.join(this.dir, `${name}.java.crt`);
    const key = path.join(this.dir, `${name}.java.key`);
    writeFileSync(crt, pair.cert);
    writeFileSync(key, pair.key);
    const ks = path.join(this.dir, `${name}.p12`);
    this.openssl(['pkcs12', '-export', '-in', crt, '-inkey', key, '-out', ks, '-passout', 'pass:changeit', '-name', name]);
    const ts = path.join(this.dir, 'trust.p12');
    if (!existsSync(ts)) execFileSync('keytool', ['-importcert', '-noprompt', '-alias', 'wharf-test-ca', '-file', tlsFixture('ca.crt'), '-keystore', ts, '-storetype', 'PKCS12', '-storepass', 'changeit'], { stdio: ['ignore', 'ignore', 'pipe'] });
    return [`-Djavax.net.ssl.keyStore=${ks}`, '-Djavax.net.ssl.keyStoreType=PKCS12', '-Djavax.net.ssl.keyStorePassword=changeit', `-Djavax.net.ssl.trustStore=${ts}`, '-Djavax.net.ssl.trustStoreType=PKCS12', '-Djavax.net.ssl.trustStorePassword=changeit'];
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
