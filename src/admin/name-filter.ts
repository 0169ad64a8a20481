/**
 * The console's and API's name search: what an operator types, in whatever form their client uses.
 * - plain text: a case-insensitive substring (`orders`)
 * - Wharf / ActiveMQ wildcards as whole segments: `orders.*` (one segment), `orders.>` (the rest)
 * - MQTT names and wildcards: `sensors/+/temp`, `sensors/#` (→ `sensors.*.temp`, `sensors.>`)
 * - STOMP / AMQP prefixes are dropped: `/queue/orders`, `queue://orders`, `/topic/x`, `topic://x`
 * - `*` or `?` inside a segment: a glob over the whole name (`ord*`, `load.q0?`)
 */
import { matchTopic } from '../core/api.js';

export function nameMatcher(raw: string): (name: string) => boolean {
  let f = raw.trim().replace(/^(queue|topic|temp-queue|temp-topic):\/\//i, '').replace(/^\/(queue|topic|temp-queue|temp-topic)\//i, '');
  // MQTT form: slashes separate levels, + is one level, # the rest
  if (f.includes('/') && !f.includes('.')) f = f.split('/').map((s) => (s === '+' ? '*' : s === '#' ? '>' : s)).join('.');
  if (!f) return () => true;
  const segments = f.split('.');
  const wildcardSegments = segments.some((s) => s === '*' || s === '>');
  const innerGlob = segments.some((s) => s !== '*' && s !== '>' && /[*?]/.test(s));
  if (wildcardSegments && !innerGlob) {
    const lower = f.toLowerCase();
    return (name) => matchTopic(lower, name.toLowerCase());
  }
  if (/[*?]/.test(f)) {
    const re = new RegExp('^' + f.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i');
    return (name) => re.test(name);
  }
  const lower = f.toLowerCase();
  return (name) => name.toLowerCase().includes(lower);
}
