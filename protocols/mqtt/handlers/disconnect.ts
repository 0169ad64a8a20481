/** DISCONNECT from the client (MQTT 5 §3.14). */
import type * as mqttPacket from 'mqtt-packet';
import { RC } from '../codec.js';
import type { ConnectionContext } from '../context.js';

export function handleDisconnect(c: ConnectionContext, p: mqttPacket.IDisconnectPacket): void {
  const s = c.session!;
  if (c.version === 5) {
    const se = p.properties?.sessionExpiryInterval;
    if (se !== undefined) {
      // MQTT 5 §3.14.2.2.2: a Session Expiry Interval of 0 on CONNECT cannot be raised on DISCONNECT
      if (c.connectExpiry === 0 && se > 0) return c.protocolClose(RC.protocolError, 'Session Expiry Interval set on DISCONNECT after 0 on CONNECT');
      s.expiry = Math.min(se, c.host.cfg.maxSessionExpiry);
      if (s.persistent) c.host.saveSession(s).catch(() => undefined);
    }
  }
  // [MQTT-3.14.4-3]: a normal DISCONNECT discards the will; v5 0x04 (Disconnect with Will Message) keeps it
  const withWill = c.version === 5 && p.reasonCode === RC.disconnectWithWill;
  c.close({ normal: !withWill, reason: 'client sent DISCONNECT' });
}
