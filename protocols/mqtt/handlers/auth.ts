/** AUTH (MQTT 5 §3.15, §4.12): enhanced authentication is not supported. */
import type { ConnectionContext } from '../context.js';
import { RC } from '../codec.js';

/**
 * A CONNECT with an Authentication Method is refused with 0x8C (handlers/connect.ts, [MQTT-4.12.0-1]), so an AUTH
 * packet can only follow a CONNECT without one, which the client must not send ([MQTT-4.12.0-7]).
 */
export function handleAuth(c: ConnectionContext): void {
  c.protocolClose(RC.badAuthenticationMethod, 'enhanced authentication is not configured');
}
