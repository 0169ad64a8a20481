/**
 * CONNECT / STOMP: version negotiation, authentication through the engine, CONNECTED, heart-beats.
 *
 * STOMP 1.2 "Protocol Negotiation": the server picks the highest version in `accept-version` it supports;
 * no `accept-version` means 1.0, and none in common is an ERROR carrying our `version` header.
 * STOMP 1.2 "Heart-beating": `heart-beat: cx,cy` from the client is answered with ours; each direction
 * uses the larger of what one side can send and the other wants (0 on either side: none).
 */
import type { StompFrame, StompVersion } from '../frame.js';
import { header } from '../frame.js';
import { HEARTBEAT } from '../codec.js';
import { clip, FrameError, type StompContext } from '../context.js';

const VERSIONS: StompVersion[] = ['1.2', '1.1', '1.0'];

export function onConnect(ctx: StompContext, f: StompFrame): Promise<void> {
  const accept = header(f, 'accept-version');
  let version: StompVersion = '1.0';
  if (accept !== undefined) {
    const offered = accept.split(',').map((s) => s.trim());
    const v = VERSIONS.find((x) => offered.includes(x));
    if (!v) {
      ctx.errorClose('Unsupported protocol version', `Supported protocol versions are ${[...VERSIONS].reverse().join(' ')}; the client accepts '${clip(accept, 60)}'.`, undefined, [['version', '1.0,1.1,1.2']]);
      return Promise.resolve();
    }
    version = v;
  }
  let cx = 0;
  let cy = 0;
  const hb = header(f, 'heart-beat');
  if (hb !== undefined && hb.trim() !== '') {
    const m = /^\s*(\d{1,10})\s*,\s*(\d{1,10})\s*$/.exec(hb);
    if (!m) throw new FrameError('Invalid heart-beat header', `heart-beat must be two non-negative integers 'cx,cy', got '${clip(hb, 40)}'.`);
    cx = Math.min(Number(m[1]), 2 ** 31 - 1);
    cy = Math.min(Number(m[2]), 2 ** 31 - 1);
  }
  ctx.version = version;
  ctx.decoder.version = version;
  ctx.state = 'connecting';
  const clientId = header(f, 'client-id') || undefined;
  const login = header(f, 'login');
  const passcode = header(f, 'passcode');
  return ctx.engine
    .connect(
      { protocol: 'stomp', clientId, remoteAddress: ctx.peer.remoteAddress, onKill: (reason) => ctx.errorClose(reason, `The broker closed this connection: ${reason}.`),
        endpoint: { transport: ctx.peer.transport, remotePort: ctx.peer.remotePort, localPort: ctx.peer.localPort, version } },
      { username: login || undefined, password: passcode, certificate: ctx.peer.clientIdentity },
    )
    .then((conn) => {
      if (ctx.state !== 'connecting') {
        ctx.engine.disconnect(conn);
        return;
      }
      ctx.conn = conn;
      ctx.state = 'connected';
      if (ctx.connectTimer) clearTimeout(ctx.connectTimer);
      ctx.connectTimer = null;
      const out = cy > 0 ? Math.max(cy, ctx.opts.heartbeatMin) : 0;
      const inn = cx > 0 ? Math.max(cx, ctx.opts.heartbeatMin) : 0;
      // version even for a 1.0 client (no accept-version): the 1.1/1.2 specs require it on every CONNECTED, a 1.0
      // client ignores it, and RabbitMQ and ActiveMQ send version:1.0
      const headers: Array<[string, string]> = [['version', version]];
      headers.push(['session', conn.id], ['server', ctx.host.serverName], ['heart-beat', `${out},${inn}`]);
      ctx.writeFrame('CONNECTED', headers);
      startHeartbeats(ctx, out, inn);
      ctx.log.debug({ session: conn.id, version, remote: ctx.peer.remoteAddress, transport: ctx.peer.transport }, 'stomp: connected');
    });
}

export function startHeartbeats(ctx: StompContext, out: number, inn: number): void {
  if (out > 0) {
    // Checked every quarter interval, sent once half of it passed in silence: the longest gap is then about
    // 3/4 of the interval, so a client that checks strictly against the interval never sees a late beat.
    const half = Math.max(1, Math.floor(out / 2));
    ctx.hbOutTimer = setInterval(() => {
      if (Date.now() - ctx.lastWriteAt >= half) ctx.write(HEARTBEAT);
    }, Math.max(1, Math.floor(out / 4)));
    ctx.hbOutTimer.unref();
  }
  const idle = ctx.host.limits.idleTimeout;
  let deadline = inn > 0 ? inn * ctx.opts.heartbeatTolerance : 0;
  if (idle > 0 && (deadline === 0 || idle < deadline)) deadline = idle;
  if (deadline > 0) {
    ctx.lastReadAt = Date.now();
    const every = Math.max(10, Math.min(Math.floor(deadline / 4), inn > 0 ? inn : deadline));
    ctx.hbInTimer = setInterval(() => {
      if (ctx.holds !== 0) {
        ctx.lastReadAt = Date.now(); // not reading on purpose: silence is ours
        return;
      }
      if (Date.now() - ctx.lastReadAt > deadline) {
        ctx.log.debug({ session: ctx.conn?.id, deadline }, 'stomp: heart-beat timeout');
        ctx.errorClose('Heart-beat timeout', `Nothing was received from the client for more than ${deadline} ms (negotiated client heart-beat ${inn} ms).`);
      }
    }, every);
    ctx.hbInTimer.unref();
  }
}
