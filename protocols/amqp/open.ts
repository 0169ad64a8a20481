/**
 * Connection open (AMQP 1.0 §2.4.1, §2.7.1): the client's open is answered only once the engine accepted
 * the connection, and its idle-time-out (§2.4.5) is bounded before rhea arms heart-beats with it.
 * Closing lives in connection.ts.
 */
import { BrokerError } from '../../src/core/api.js';
import { amqpError, symbols, type AmqpContext } from './context.js';

/**
 * rhea just took the client's open (synchronously, before it writes anything): bound the peer's
 * idle-time-out (rhea would arm setTimeout(idle/2): 2^32-1 overflows into a 1 ms heart-beat), and hold
 * our open back until the engine has the connection (Qpid JMS reads amqp:connection-establishment-failed
 * in it). No heart-beat may precede our open, so the peer's idle-time-out stays 0 until then.
 */
export function onRemoteOpen(ctx: AmqpContext): void {
  const open = ctx.rconn.remote.open;
  if (!open || ctx.openNow) return;
  const idle = open.idle_time_out;
  const peerIdle = typeof idle === 'number' && idle > 0 ? Math.max(100, Math.min(idle, 3_600_000)) : 0;
  open.idle_time_out = 0;
  const st = (ctx.rconn as unknown as { state: { open_requests: number } }).state;
  if (st.open_requests > 0) st.open_requests--;
  ctx.openNow = (failed: boolean) => {
    ctx.openNow = null;
    if (peerIdle) open.idle_time_out = peerIdle;
    if (failed) ctx.rconn.local.open.properties = { product: ctx.host.product, version: ctx.host.version, 'amqp:connection-establishment-failed': true };
    st.open_requests++;
    ctx.rconn._register();
  };
}

/** The client's open is in rhea: connect to the engine, then let frames flow. */
export function onOpenForwarded(ctx: AmqpContext): void {
  const open = ctx.rconn.remote.open;
  if (!open) {
    ctx.closeConnection({ condition: 'amqp:connection:framing-error', description: 'the first frame must be open' });
    return;
  }
  const mfs = open.max_frame_size;
  if (typeof mfs === 'number' && mfs < 512) {
    ctx.closeConnection({ condition: 'amqp:invalid-field', description: `max-frame-size ${mfs} is below the minimum of 512` });
    return;
  }
  ctx.containerId = typeof open.container_id === 'string' ? open.container_id : '';
  const sole = symbols(open.desired_capabilities).includes('sole-connection-for-container');
  ctx.state = 'connecting';
  ctx.engine
    .connect(
      { protocol: 'amqp', clientId: sole && ctx.containerId ? ctx.containerId : undefined, remoteAddress: ctx.peer.remoteAddress, onKill: (reason, cause) => ctx.kill(reason, cause),
        endpoint: { transport: ctx.peer.transport, remotePort: ctx.peer.remotePort, localPort: ctx.peer.localPort, containerId: ctx.containerId || undefined, version: '1.0' } },
      ctx.credentials,
    )
    .then(
      (conn) => {
        if (ctx.state !== 'connecting') {
          ctx.engine.disconnect(conn);
          return;
        }
        ctx.conn = conn;
        ctx.state = 'open';
        ctx.openNow?.(false);
        if (ctx.connectTimer) clearTimeout(ctx.connectTimer);
        ctx.connectTimer = null;
        ctx.log.debug({ connection: conn.id, container: ctx.containerId, remote: ctx.peer.remoteAddress, transport: ctx.peer.transport }, 'amqp: connected');
        ctx.guard.release();
      },
      (err: unknown) => {
        const e = amqpError(err);
        if (err instanceof BrokerError && err.code === 'client-id-in-use') e.info = { 'invalid-field': 'container-id' };
        if (ctx.state === 'connecting') ctx.openNow?.(true);
        ctx.closeConnection(e);
      },
    );
}
