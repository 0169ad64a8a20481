/**
 * SQS as the shared SQS/SNS endpoint (protocols/aws/endpoint.ts) serves it: AWS JSON 1.0 and the query protocol,
 * queues also addressed by the request path (`POST /<account>/<queue>`).
 */
import type { AwsJsonApi, AwsRequest } from '../aws/endpoint.js';
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
    context: (req) => new SqsRequestContext(req),
    xml: sqsXml,
    start: () => sqs.start(),
    close: () => sqs.close(),
  };
}

/** An SQS action's view of its request; `signal` is a getter on the prototype (see EndpointRequest). */
class SqsRequestContext implements RequestContext {
  readonly baseUrl: string;
  readonly senderId: string;
  readonly user: RequestContext['user'];
  readonly lenient: boolean;
  readonly pathQueue: string | undefined;
  readonly traceHeader: string | undefined;

  constructor(private readonly req: AwsRequest) {
    this.baseUrl = req.baseUrl;
    this.senderId = req.principal;
    this.user = req.user;
    this.lenient = req.protocol === 'query';
    this.traceHeader = req.traceHeader;
    this.pathQueue = req.protocol === 'query' && req.path.split('/').filter(Boolean).length >= 2 ? queueNameFromUrl(req.path) : undefined;
  }

  get signal(): AbortSignal {
    return this.req.signal;
  }
}
