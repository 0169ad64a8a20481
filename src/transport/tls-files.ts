import { readFileSync } from 'node:fs';
import { createSecureContext, type TlsOptions } from 'node:tls';
import { ListenerConfigError } from './errors.js';

/** TLS settings of a listener: PEM file paths. */
export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle used to verify client certificates. */
  ca?: string;
  /** Ask clients for a certificate (exposed as `PeerInfo.clientCertificate`). */
  requestCert?: boolean;
  /** With `requestCert`: refuse clients without a certificate signed by `ca`. Default false. */
  rejectUnauthorized?: boolean;
}

/** Read the PEM files and build Node TLS server options; errors name the listener and the file. */
export function tlsServerOptions(listener: string, tls: TlsFiles): TlsOptions {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'file not found' : e.code === 'EACCES' ? 'permission denied' : e.message;
      throw new ListenerConfigError(`${listener} listener: cannot read TLS ${what} file "${file}": ${why}`, { cause: err });
    }
  };
  const options: TlsOptions = {
    cert: read('cert', tls.cert),
    key: read('key', tls.key),
    ca: tls.ca ? read('ca', tls.ca) : undefined,
    requestCert: tls.requestCert ?? false,
    rejectUnauthorized: tls.requestCert ? (tls.rejectUnauthorized ?? false) : false,
    handshakeTimeout: 30_000,
  };
  try {
    createSecureContext(options);
  } catch (err) {
    throw new ListenerConfigError(
      `${listener} listener: TLS cert "${tls.cert}" / key "${tls.key}" are unusable: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return options;
}
