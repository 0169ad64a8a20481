/**
 * The SQS + SNS HTTP module on `listeners.sqs`: the one place that knows both services. It creates the
 * SqsService and the SnsService, lets SNS subscriptions deliver into SQS queues (SNS only sees its `SqsBridge`),
 * and serves both APIs through the shared AWS endpoint (protocols/aws/endpoint.ts).
 */
import { BaseUrls } from '../../protocols/aws/base-url.js';
import { createAwsEndpoint } from '../../protocols/aws/endpoint.js';
import type { AuthResult, SigV4Options } from '../../protocols/aws/sigv4.js';
import type { ClientCertificate, Principal } from '../core/api.js';
import { snsApi } from '../../protocols/sns/aws-api.js';
import { SnsService, type SnsDefinitions } from '../../protocols/sns/service.js';
import { sqsApi } from '../../protocols/sqs/aws-api.js';
import { SqsService, type SqsDefinitions } from '../../protocols/sqs/service.js';
import type { AdapterContext, HttpHandler, HttpModule } from '../transport/types.js';
import type { DefinitionsRegistry, SectionReport } from '../admin/definitions-port.js';

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
  /** Where SQS and SNS register their part of the definitions document (shared with the admin module). */
  definitions?: DefinitionsRegistry;
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
    // sqs.credentials, then the access keys of the broker's users (security.users[].accessKeys, runtime users)
    credentials: { get: (id) => credentials.get(id) ?? engine.accessKey(id)?.secret },
    anonymous: cfg.anonymous ?? credentials.size === 0,
    maxClockSkew: cfg.maxClockSkew ?? 900,
  };
  /** The user behind a request: a user's access key = that user; an sqs.credentials key = a user of its id; else anonymous, if allowed. */
  const userOf = async (authed: AuthResult, remoteAddress: string | undefined, certificate?: ClientCertificate): Promise<Principal | null> => {
    if (authed.verified && authed.accessKeyId) {
      if (credentials.has(authed.accessKeyId)) return { username: authed.accessKeyId, anonymous: false, groups: [] };
      const k = engine.accessKey(authed.accessKeyId);
      if (k) return k.principal;
    }
    return engine.authenticate({ protocol: 'sqs', remoteAddress, certificate });
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
  const endpoint = createAwsEndpoint({ sqs: sqsApi(sqs), sns: snsApi(sns), auth, userOf, accountId: cfg.accountId, maxBody: ctx.limits.maxFrameSize, baseUrls, logger });
  const unregister = registerDefinitions(cfg.definitions, sqs, sns);
  return {
    sqs,
    sns,
    handle: (req, res) => endpoint.handle(req, res),
    close: () => {
      unregister();
      return endpoint.close();
    },
  };
}

/**
 * SQS queues (with attributes and tags) and SNS topics and subscriptions in the definitions document: SQS first,
 * since SNS subscriptions name SQS queues (endpoints, redrive targets).
 */
function registerDefinitions(registry: DefinitionsRegistry | undefined, sqs: SqsService, sns: SnsService): () => void {
  if (!registry) return () => undefined;
  const count = (report: SectionReport, kind: string, item: { name: string; outcome: string; reason?: string }, what: string) => {
    if (item.outcome === 'created') report.created(kind);
    else if (item.outcome === 'existing') report.existing(kind);
    else report.skipped(`${what}.${item.name}`, item.reason ?? 'failed');
  };
  const off = [
    registry.register({
      key: 'sqs',
      kinds: ['sqsQueues'],
      owns: (kind, name) => kind !== 'subscription' && sqs.owns(name),
      export: () => sqs.exportDefinitions(),
      parse: (value) => sqs.parseDefinitions(value),
      import: async (parsed, report) => {
        for (const item of await sqs.importDefinitions(parsed as SqsDefinitions)) count(report, 'sqsQueues', item, 'sqs.queues');
      },
    }),
    registry.register({
      key: 'sns',
      kinds: ['snsTopics', 'snsSubscriptions'],
      owns: (kind, name) => kind === 'subscription' && sns.ownsSubscription(name),
      export: () => sns.exportDefinitions(),
      parse: (value) => sns.parseDefinitions(value),
      import: async (parsed, report) => {
        for (const item of await sns.importDefinitions(parsed as SnsDefinitions)) count(report, item.kind === 'topic' ? 'snsTopics' : 'snsSubscriptions', item, item.kind === 'topic' ? 'sns.topics' : 'sns.subscriptions');
      },
    }),
  ];
  return () => off.forEach((f) => f());
}

/** The SQS + SNS API module, served on `listeners.sqs`. */
export const sqsHttpModule: HttpModule = {
  name: 'sqs',
  listener: 'sqs',
  create: (ctx) => createSqsHandler(ctx),
};
