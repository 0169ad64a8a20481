/**
 * MQTT topic names and filters ⇄ core topic names and patterns (DESIGN.md "Names").
 *
 * `a/b/c` ⇄ `a.b.c`, `+` ⇄ `*`, `#` ⇄ `>`. A level that contains a character with a meaning in core names
 * (`.` separator, `*` `>` wildcards) or the escape character itself is percent-escaped: `%` → `%25`,
 * `.` → `%2E`, `*` → `%2A`, `>` → `%3E`. The mapping is a bijection between MQTT topic names and core names
 * without `/` in a segment; a core segment that contains `/` (a name from another protocol) is shown to MQTT
 * clients with the `/` escaped as `%2F` (the one lossy case, documented in docs/interop.md).
 */

const NEEDS_ESCAPE = /[%.*>]/;
const ESCAPED = /%(25|2E|2A|3E)/gi;

function escapeLevel(level: string): string {
  if (!NEEDS_ESCAPE.test(level)) return level;
  let out = '';
  for (const ch of level) {
    if (ch === '%') out += '%25';
    else if (ch === '.') out += '%2E';
    else if (ch === '*') out += '%2A';
    else if (ch === '>') out += '%3E';
    else out += ch;
  }
  return out;
}

function unescapeSegment(seg: string): string {
  if (seg.indexOf('%') >= 0) seg = seg.replace(ESCAPED, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  if (seg.indexOf('/') >= 0) seg = seg.replace(/\//g, '%2F');
  return seg;
}

/** A (validated) MQTT topic name → core topic name. */
export function topicToCore(topic: string): string {
  if (!NEEDS_ESCAPE.test(topic)) return topic.indexOf('/') >= 0 ? topic.split('/').join('.') : topic;
  return topic.split('/').map(escapeLevel).join('.');
}

/** A (validated) MQTT topic filter → core pattern. */
export function filterToCore(filter: string): string {
  return filter
    .split('/')
    .map((l) => (l === '+' ? '*' : l === '#' ? '>' : escapeLevel(l)))
    .join('.');
}

/** Core topic name → MQTT topic name. */
export function coreToTopic(name: string): string {
  if (name.indexOf('%') < 0 && name.indexOf('/') < 0) return name.indexOf('.') >= 0 ? name.split('.').join('/') : name;
  return name.split('.').map(unescapeSegment).join('/');
}

/** Core pattern → MQTT filter (for listings). */
export function coreToFilter(pattern: string): string {
  return pattern
    .split('.')
    .map((s) => (s === '*' ? '+' : s === '>' ? '#' : unescapeSegment(s)))
    .join('/');
}

export interface TopicLimits {
  maxTopicLength: number;
  maxTopicLevels: number;
}

/** Why a topic name cannot be published to, or null when it is fine. */
export function checkTopicName(topic: string, limits: TopicLimits): 'malformed' | 'limit' | null {
  if (topic.length === 0) return 'malformed';
  if (topic.indexOf('+') >= 0 || topic.indexOf('#') >= 0 || topic.indexOf('\u0000') >= 0) return 'malformed';
  if (Buffer.byteLength(topic) > limits.maxTopicLength) return 'limit';
  if (levels(topic) > limits.maxTopicLevels) return 'limit';
  return null;
}

export interface ParsedFilter {
  /** The filter without `$share/<group>/`. */
  filter: string;
  group?: string;
}

/** Validate a subscription filter (and split a shared one); returns a reason on failure. */
export function parseFilter(raw: string, limits: TopicLimits): ParsedFilter | { error: 'malformed' | 'limit' | 'shared' } {
  if (raw.length === 0 || raw.indexOf('\u0000') >= 0) return { error: 'malformed' };
  if (Buffer.byteLength(raw) > limits.maxTopicLength) return { error: 'limit' };
  let filter = raw;
  let group: string | undefined;
  if (raw.startsWith('$share/')) {
    const rest = raw.slice(7);
    const slash = rest.indexOf('/');
    if (slash <= 0) return { error: 'shared' };
    group = rest.slice(0, slash);
    if (group.indexOf('+') >= 0 || group.indexOf('#') >= 0) return { error: 'shared' };
    filter = rest.slice(slash + 1);
    if (filter.length === 0) return { error: 'shared' };
  }
  const parts = filter.split('/');
  if (parts.length > limits.maxTopicLevels) return { error: 'limit' };
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p === '#') {
      if (i !== parts.length - 1) return { error: 'malformed' };
    } else if (p !== '+' && (p.indexOf('+') >= 0 || p.indexOf('#') >= 0)) return { error: 'malformed' };
  }
  return group === undefined ? { filter } : { filter, group };
}

function levels(topic: string): number {
  let n = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) n++;
  return n;
}

/** Filters that start with a wildcard must not match topics that start with `$` (MQTT 4.7.2). */
export function startsWithWildcard(filter: string): boolean {
  return filter.startsWith('+') || filter.startsWith('#');
}

/** MQTT topic matching (for `$SYS` and tests): `+` one level, `#` the rest including the parent. */
export function mqttMatch(filter: string, topic: string): boolean {
  if (startsWithWildcard(filter) && topic.startsWith('$')) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Engine share groups of MQTT `$share` subscriptions start with this (kept apart from JMS/AMQP groups). */
export const MQTT_SHARE_PREFIX = 'mqtt:';

/** The engine share group of `$share/<group>/<filter>`: one queue per group and filter. */
export function mqttShareGroup(group: string, filter: string): string {
  return `${MQTT_SHARE_PREFIX}${group}:${filter}`;
}
