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

const DEFAULT_CONTENT_TYPE = 'text/plain; charset=UTF-8';

function jsonObject(text: string | undefined): Record<string, unknown> | undefined {
  if (!text) return undefined;
  try {
    const o = JSON.parse(text) as unknown;
    return o && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A policy's request policy (`requestPolicy`, or a topic's `http.defaultRequestPolicy`) if it sets a content type. */
function requestPolicyOf(text: string | undefined, topicLevel: boolean): { headerContentType: string } | undefined {
  const o = jsonObject(text);
  const rp = (topicLevel ? (o?.http as Record<string, unknown> | undefined)?.defaultRequestPolicy : o?.requestPolicy) as Record<string, unknown> | undefined;
  return rp && typeof rp.headerContentType === 'string' ? { headerContentType: rp.headerContentType } : undefined;
}

/** The Content-Type of HTTP(S) notifications: the subscription's request policy, else the topic's, else plain text (AWS). */
export function notificationContentType(topicPolicy?: string, subPolicy?: string): string {
  return (requestPolicyOf(subPolicy, false) ?? requestPolicyOf(topicPolicy, true))?.headerContentType ?? DEFAULT_CONTENT_TYPE;
}

function healthyPolicy(topicPolicy?: string, subPolicy?: string): RetryPolicy {
  try {
    if (subPolicy) return parseDeliveryPolicy(subPolicy, false);
    if (topicPolicy) return parseDeliveryPolicy(topicPolicy, true);
  } catch {
    /* defaults */
  }
  return DEFAULT_HTTP_POLICY;
}

/** A topic's EffectiveDeliveryPolicy. */
export function effectiveDeliveryPolicyDoc(topicPolicy?: string): Record<string, unknown> {
  // AWS shows the topic's request policy (the Content-Type of HTTP deliveries), plain text unless it sets one
  const requestPolicy = requestPolicyOf(topicPolicy, true) ?? { headerContentType: DEFAULT_CONTENT_TYPE };
  return { http: { defaultHealthyRetryPolicy: healthyPolicy(topicPolicy), disableSubscriptionOverrides: false, defaultRequestPolicy: requestPolicy } };
}

/** An HTTP(S) subscription's EffectiveDeliveryPolicy, in the subscription-level shape AWS answers with. */
export function subscriptionDeliveryPolicyDoc(topicPolicy?: string, subPolicy?: string): Record<string, unknown> {
  const throttle = jsonObject(subPolicy)?.throttlePolicy;
  return {
    healthyRetryPolicy: healthyPolicy(topicPolicy, subPolicy),
    sicklyRetryPolicy: null,
    throttlePolicy: throttle && typeof throttle === 'object' ? throttle : null,
    requestPolicy: { headerContentType: notificationContentType(topicPolicy, subPolicy) },
    guaranteed: false,
  };
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
