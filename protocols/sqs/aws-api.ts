/**
 * SQS as the shared SQS/SNS endpoint (protocols/aws/endpoint.ts) serves it: AWS JSON 1.0 and the query protocol,
 * queues also addressed by the request path (`POST /<account>/<queue>`).
 */
import type { AwsJsonApi } from '../aws/endpoint.js';
import { Params } from '../aws/params.js';
import { queueNameFromUrl, type RequestContext } from './queues.js';
import type { SqsService } from './service.js';
import { SQS_ACTIONS, SQS_NS, sqsQueryInput, sqsXml } from './wire.js';

export function sqsApi(sqs: SqsService): AwsJsonApi<RequestContext> {
  return {
    version: '2012-11-05',
    namespace: SQS_NS,
    targetPrefix: 'AmazonSQS.',
    shapePrefix: 'com.amazonaws.sqs',
    actions: sqs.actions,
    actionNames: SQS_ACTIONS,
    routingParams: ['QueueUrl'],
    queryInput: sqsQueryInput,
    params: (input, lenient) => new Params(input, lenient),
    context: (req) => ({
      baseUrl: req.baseUrl,
      senderId: req.principal,
      user: req.user,
      lenient: req.protocol === 'query',
      pathQueue: req.protocol === 'query' && req.path.split('/').filter(Boolean).length >= 2 ? queueNameFromUrl(req.path) : undefined,
      get signal() {
        return req.signal;
      },
    }),
    xml: sqsXml,
    start: () => sqs.start(),
    close: () => sqs.close(),
  };
}
