/**
 * SNS over the AWS query protocol. SNS is served on the same listener as SQS (`listeners.sqs`): the combined
 * module in `protocols/sqs/index.ts` dispatches SNS actions to the SnsService here. This module re-exports the
 * service and also offers the same combined handler as `snsHttpModule` (for a broker that wants to serve it on
 * another listener key; it is not registered by default).
 */
import type { HttpModule } from '../../src/transport/types.js';
import { createSqsHandler } from '../sqs/index.js';

export { SnsService, SNS_ACTIONS, SNS_NS, snsQueryInput, snsXml, type SqsBridge, type SnsContext } from './service.js';
export { matchesFilter, parseFilterPolicy, FilterPolicyError } from './filter-policy.js';

export const snsHttpModule: HttpModule = {
  name: 'sns',
  listener: 'sqs',
  create: (ctx) => createSqsHandler(ctx),
};

export default snsHttpModule;
