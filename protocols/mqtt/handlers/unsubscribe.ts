/** UNSUBSCRIBE (MQTT 5 §3.10). */
import type * as mqttPacket from 'mqtt-packet';
import { generate, RC } from '../codec.js';
import type { ConnectionContext } from '../context.js';

export function handleUnsubscribe(c: ConnectionContext, p: mqttPacket.IUnsubscribePacket): void {
  // [MQTT-3.10.3-2]: at least one topic filter
  if (!p.unsubscriptions?.length) return c.protocolClose(RC.protocolError, 'UNSUBSCRIBE without a topic filter');
  c.chain(() => unsubscribe(c, p));
}

async function unsubscribe(c: ConnectionContext, p: mqttPacket.IUnsubscribePacket): Promise<void> {
  if (c.state !== 'connected') return;
  const s = c.session!;
  const codes: number[] = [];
  let changed = false;
  for (const f of p.unsubscriptions) {
    // [MQTT-3.10.4-1]: filters compared character by character with the session's, wildcards included
    const rec = s.subs.get(f);
    const entry = c.subEntries.get(f);
    c.subEntries.delete(f);
    if (!rec) {
      codes.push(RC.noSubscriptionExisted);
      continue;
    }
    s.subs.delete(f);
    changed = true;
    // [MQTT-3.10.4-2]: no new messages for a deleted subscription
    if (entry?.parsed.filter.startsWith('$SYS')) c.host.sys.unsubscribe(c, f);
    entry?.consumer?.close();
    await c.host.dropDurable(s, rec);
    codes.push(0);
  }
  if (changed && (s.persistent || s.stored)) await c.host.saveSession(s);
  if (c.currentState() !== 'connected') return;
  // [MQTT-3.10.4-4]: UNSUBACK, also when nothing was subscribed (3.1.1 has no return codes in it)
  if (c.version === 5) c.write(generate({ cmd: 'unsuback', messageId: p.messageId, granted: codes }, 5));
  else c.write(generate({ cmd: 'unsuback', messageId: p.messageId, granted: [] }, c.version));
}
