/** PINGREQ (MQTT 5 §3.12). Keep-alive itself is checked by the adapter's sweep (connection.ts keepAliveExpired). */
import { PINGRESP } from '../codec.js';
import type { ConnectionContext } from '../context.js';

/** [MQTT-3.12.4-1]: PINGRESP for every PINGREQ. */
export function handlePingreq(c: ConnectionContext): void {
  c.write(PINGRESP);
}
