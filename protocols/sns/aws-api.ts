/**
 * SNS as the shared SQS/SNS endpoint (protocols/aws/endpoint.ts) serves it: the query protocol, the signing
 * certificate at SigningCertURL, and the links in SNS messages (confirm, unsubscribe) answered without a signature.
 */
import type { AwsApi } from '../aws/endpoint.js';
import { snsError } from '../aws/errors.js';
import { Params } from '../aws/params.js';
import { SnsService, type SnsContext } from './service.js';
import { SNS_ACTIONS, SNS_NS, snsQueryInput, snsXml } from './wire.js';

/** SNS actions that AWS serves without a signature (the links in confirmation and notification messages). */
const UNSIGNED = new Set(['ConfirmSubscription', 'Unsubscribe']);

/** SNS words every parameter error as InvalidParameter; a missing one is `Invalid parameter: <Name>`. */
function paramError(code: 'MissingParameter' | 'InvalidParameterValue', m: string) {
  return snsError('InvalidParameter', code === 'MissingParameter' ? `Invalid parameter: ${m.replace(/^The request must contain the parameter (\w+)\.$/, '$1')}` : m);
}

export function snsApi(sns: SnsService): AwsApi<SnsContext> {
  return {
    version: '2010-03-31',
    namespace: SNS_NS,
    actions: sns.actions,
    actionNames: SNS_ACTIONS,
    routingParams: ['TopicArn', 'SubscriptionArn', 'TargetArn'],
    unsignedActions: UNSIGNED,
    document: { path: SnsService.CERT_PATH, contentType: 'application/x-pem-file', body: () => sns.certificatePem() },
    queryInput: snsQueryInput,
    params: (input, lenient) => new Params(input, lenient, paramError),
    context: (req) => ({ baseUrl: req.baseUrl, principal: req.principal, verified: req.auth.verified, user: req.user, traceHeader: req.traceHeader }),
    xml: snsXml,
    start: () => sns.start(),
    close: () => sns.close(),
  };
}
