/**
 * SNS delivery policies for HTTP(S) subscriptions: the healthy retry policy of a topic (`http.defaultHealthyRetryPolicy`)
 * or a subscription (`healthyRetryPolicy`), validated as AWS does, and the delay before each retry (no-delay,
 * minimum-delay, backoff and maximum-delay phases; linear, arithmetic, geometric or exponential backoff).
 */
import { invalid } from './resources.js';

export interface RetryPolicy {
  minDelayTarget: number;
  maxDelayTarget: number;
  numRetries: number;
  numMaxDelayRetries: number;
  numNoDelayRetries: number;
  numMinDelayRetries: number;
  backoffFunction: 'linear' | 'arithmetic' | 'geometric' | 'exponential';
}

export const DEFAULT_HTTP_POLICY: RetryPolicy = {
  minDelayTarget: 20,
  maxDelayTarget: 20,
  numRetries: 3,
  numMaxDelayRetries: 0,
  numNoDelayRetries: 0,
  numMinDelayRetries: 0,
  backoffFunction: 'linear',
};

export function parseDeliveryPolicy(text: string, topicLevel: boolean): RetryPolicy {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text);
  } catch {
    throw invalid('DeliveryPolicy: must be JSON');
  }
  const section = (topicLevel ? ((o.http as Record<string, unknown>)?.defaultHealthyRetryPolicy ?? o.healthyRetryPolicy) : o.healthyRetryPolicy) as Record<string, unknown> | undefined;
  const pol: RetryPolicy = { ...DEFAULT_HTTP_POLICY, ...(section ?? {}) } as RetryPolicy;
  const ints: Array<keyof RetryPolicy> = ['minDelayTarget', 'maxDelayTarget', 'numRetries', 'numMaxDelayRetries', 'numNoDelayRetries', 'numMinDelayRetries'];
  for (const k of ints) {
    const v = pol[k] as unknown;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalid(`DeliveryPolicy: ${k} must be a non-negative integer`);
  }
  if (pol.minDelayTarget < 1 || pol.maxDelayTarget < pol.minDelayTarget || pol.maxDelayTarget > 3600) throw invalid('DeliveryPolicy: delay targets must satisfy 1 <= minDelayTarget <= maxDelayTarget <= 3600');
  if (pol.numRetries > 100) throw invalid('DeliveryPolicy: numRetries must be at most 100');
  if (pol.numNoDelayRetries + pol.numMinDelayRetries + pol.numMaxDelayRetries > pol.numRetries) throw invalid('DeliveryPolicy: the phase retries exceed numRetries');
  if (!['linear', 'arithmetic', 'geometric', 'exponential'].includes(pol.backoffFunction)) throw invalid('DeliveryPolicy: backoffFunction must be linear, arithmetic, geometric or exponential');
  return pol;
}

export function effectiveDeliveryPolicyDoc(topicPolicy?: string, subPolicy?: string): Record<string, unknown> {
  let pol = DEFAULT_HTTP_POLICY;
  try {
    if (subPolicy) pol = parseDeliveryPolicy(subPolicy, false);
    else if (topicPolicy) pol = parseDeliveryPolicy(topicPolicy, true);
  } catch {
    /* defaults */
  }
  // AWS shows the topic's request policy (the Content-Type of HTTP deliveries), plain text unless it sets one
  let requestPolicy: unknown = { headerContentType: 'text/plain; charset=UTF-8' };
  try {
    const set = topicPolicy ? (JSON.parse(topicPolicy) as { http?: { defaultRequestPolicy?: unknown } }).http?.defaultRequestPolicy : undefined;
    if (set && typeof set === 'object') requestPolicy = set;
  } catch {
    /* the default */
  }
  return { http: { defaultHealthyRetryPolicy: pol, disableSubscriptionOverrides: false, defaultRequestPolicy: requestPolicy } };
}

/** Delay before retry number `n` (1-based), seconds. */
export function retryDelay(pol: RetryPolicy, n: number): number {
  if (n <= pol.numNoDelayRetries) return 0;
  if (n <= pol.numNoDelayRetries + pol.numMinDelayRetries) return pol.minDelayTarget;
  const backoffSteps = pol.numRetries - pol.numNoDelayRetries - pol.numMinDelayRetries - pol.numMaxDelayRetries;
  const i = n - pol.numNoDelayRetries - pol.numMinDelayRetries; // 1..backoffSteps, then max-delay phase
  if (i > backoffSteps || backoffSteps <= 1) return pol.maxDelayTarget;
  const f = (i - 1) / (backoffSteps - 1);
  const span = pol.maxDelayTarget - pol.minDelayTarget;
  let x: number;
  switch (pol.backoffFunction) {
    case 'arithmetic':
      x = f * f;
      break;
    case 'geometric':
      x = Math.sqrt(f);
      break;
    case 'exponential':
      x = (Math.pow(2, f * 5) - 1) / 31;
      break;
    default:
      x = f;
  }
  return Math.round(pol.minDelayTarget + span * x);
}
