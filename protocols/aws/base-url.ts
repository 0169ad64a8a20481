/**
 * The base URL (`http(s)://host:port`) the SQS/SNS endpoint hands out in queue URLs and in the links of SNS
 * messages: the Host a client addressed, else the configured `sqs.baseUrl`, else the first good Host seen, else
 * the listener's address. SNS delivers outside any request, so it asks `fallback()`.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

export class BaseUrls {
  private learned?: string;
  // the same client sends the same Host header on every request: the last good one is remembered
  private lastHost?: string;
  private lastEncrypted = false;
  private lastBase = '';

  constructor(
    /** `sqs.baseUrl`, when configured. */
    private readonly configured: string | undefined,
    /** The `listeners.sqs` address. */
    private readonly listener: { host: string; port: number },
  ) {}

  /** Without a request: the configured base URL, else the first one learned from a request, else the listener's. */
  fallback(): string {
    const l = this.listener;
    return this.configured?.replace(/\/+$/, '') ?? this.learned ?? `http://${l.host === '0.0.0.0' || l.host === '::' ? '127.0.0.1' : l.host}:${l.port}`;
  }

  /** The base URL as the client of this request addressed the broker (its Host header when well-formed). */
  forRequest(req: IncomingMessage): string {
    const encrypted = !!(req.socket as TLSSocket).encrypted;
    const host = req.headers.host;
    if (host !== undefined && host === this.lastHost && encrypted === this.lastEncrypted) return this.lastBase;
    if (host && /^[A-Za-z0-9.\-:[\]]+$/.test(host)) {
      const baseUrl = `${encrypted ? 'https' : 'http'}://${host}`;
      if (!this.configured && !this.learned) this.learned = baseUrl;
      this.lastHost = host;
      this.lastEncrypted = encrypted;
      this.lastBase = baseUrl;
      return baseUrl;
    }
    return this.fallback();
  }
}
