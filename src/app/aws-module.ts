/**
 * The SQS + SNS HTTP module on `listeners.sqs`: the one place that knows both services. It creates the
 * SqsService and the SnsService, lets SNS subscriptions deliver into SQS queues (SNS only sees its `SqsBridge`),
 * and serves both APIs through the shared AWS endpoint (protocols/aws/endpoint.ts).
 */
import { BaseUrls } from '../../protocols/aws/base-url.js';
import { createAwsEndpoint } from '../../protocols/aws/endpoint.js';
import type { SigV4Options } from '../../protocols/aws/sigv4.js';
import { snsApi } from '../../protocols/sns/aws-api.js';
import { SnsService } from '../../protocols/sns/service.js';
import { sqsApi } from '../../protocols/sqs/aws-api.js';
import { SqsService } from '../../protocols/sqs/service.js';
import type { AdapterContext, HttpHandler, HttpModule } from '../transport/types.js';

/** What the composition root passes the SQS/SNS module (`sqs:` in the configuration, and where it listens). */
export interface SqsModuleOptions {
  region: string;
  accountId: string;
  credentials?: Array<{ accessKeyId: string; secretAccessKey: string }>;
  anonymous?: boolean;
  baseUrl?: string;
  maxClockSkew?: number;
  purgeInterval?: number;
  deletedQueueCooldown?: number;
  /** The `listeners.sqs` address, for links the broker hands out when no baseUrl is set. */
  listener: { host: string; port: number };
}

export interface SqsHttpHandler extends HttpHandler {
  readonly sqs: SqsService;
  readonly sns: SnsService;
}

export function createSqsHandler(ctx: AdapterContext): SqsHttpHandler {
  const { engine, logger } = ctx;
  const cfg = (ctx.options as SqsModuleOptions | undefined) ?? { region: 'us-east-1', accountId: '000000000000', listener: { host: '127.0.0.1', port: 9324 } };
  const credentials = new Map<string, string>((cfg.credentials ?? []).map((c) => [c.accessKeyId, c.secretAccessKey]));
  const auth: SigV4Options = {
    credentials,
    anonymous: cfg.anonymous ?? credentials.size === 0,
    maxClockSkew: cfg.maxClockSkew ?? 900,
  };
  const baseUrls = new BaseUrls(cfg.baseUrl, cfg.listener);
  const sqs = new SqsService({ engine, region: cfg.region, accountId: cfg.accountId, logger, purgeInterval: cfg.purgeInterval, deletedQueueCooldown: cfg.deletedQueueCooldown });
  const sns = new SnsService({
    engine,
    region: cfg.region,
    accountId: cfg.accountId,
    logger,
    baseUrl: () => baseUrls.fallback(),
    sqs: {
      exists: (name) => sqs.exists(name),
      isFifo: (name) => sqs.isFifo(name),
      deliver: (name, m) => sqs.deliver(name, m),
      nameFromArn: (arn) => SqsService.nameFromArn(arn),
    },
  });
  const endpoint = createAwsEndpoint({ sqs: sqsApi(sqs), sns: snsApi(sns), auth, accountId: cfg.accountId, maxBody: ctx.limits.maxFrameSize, baseUrls, logger });
  return { sqs, sns, handle: (req, res) => endpoint.handle(req, res), close: () => endpoint.close() };
}

/** The SQS + SNS API module, served on `listeners.sqs`. */
export const sqsHttpModule: HttpModule = {
  name: 'sqs',
  listener: 'sqs',
  create: (ctx) => createSqsHandler(ctx),
};
