/**
 * SASL (AMQP 1.0 §5.3): the mechanisms we offer and how a sasl-init becomes engine credentials. The
 * SASL frames themselves are read and written by FrameGuard (guard.ts); it asks these two functions.
 *
 * §5.3.3.1 sasl-mechanisms: PLAIN (RFC 4616) and ANONYMOUS always, EXTERNAL (the TLS client certificate)
 * when the peer presented one. §5.3.3.6 sasl-outcome codes: auth (1) for refused credentials, sys (2) when
 * the security hook itself failed.
 */
import type { Credentials } from '../../src/core/api.js';
import { SASL_AUTH, SASL_SYS, type SaslResult } from './guard.js';
import type { AmqpContext } from './context.js';

export function mechanisms(ctx: AmqpContext): string[] {
  const m = ['PLAIN', 'ANONYMOUS'];
  if (ctx.peer.clientCertificate) m.unshift('EXTERNAL');
  return m;
}

export async function saslAuthenticate(ctx: AmqpContext, mechanism: string, response: Buffer | undefined, _hostname: string | undefined): Promise<SaslResult> {
  let creds: Omit<Credentials, 'protocol'>;
  if (mechanism === 'PLAIN') {
    if (!response) return { ok: false, code: SASL_AUTH };
    const parts = splitNul(response);
    if (parts.length !== 3) return { ok: false, code: SASL_AUTH };
    creds = { username: parts[1] || undefined, password: parts[2] };
  } else if (mechanism === 'EXTERNAL') {
    // RFC 4422 Appendix A: the identity comes from the TLS layer (the verified client certificate)
    if (!ctx.peer.clientIdentity) return { ok: false, code: SASL_AUTH };
    creds = { certificate: ctx.peer.clientIdentity };
  } else {
    // ANONYMOUS: a client that presented a certificate is still the certificate's user (or refused), as on STOMP/MQTT
    creds = ctx.peer.clientIdentity ? { certificate: ctx.peer.clientIdentity } : {};
  }
  try {
    const principal = await ctx.engine.authenticate({ protocol: 'amqp', remoteAddress: ctx.peer.remoteAddress, ...creds });
    if (!principal) return { ok: false, code: SASL_AUTH };
  } catch (err) {
    ctx.log.warn({ err, remote: ctx.peer.remoteAddress }, 'amqp: authenticate hook failed');
    return { ok: false, code: SASL_SYS };
  }
  ctx.credentials = creds;
  return { ok: true };
}

/** A PLAIN response: authzid NUL authcid NUL passwd (RFC 4616). */
function splitNul(b: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= b.length; i++) {
    if (i === b.length || b[i] === 0) {
      out.push(b.toString('utf8', start, i));
      start = i + 1;
    }
  }
  return out;
}
