/**
 * AWS-shaped errors for the SQS and SNS APIs, and their two wire shapes (JSON 1.0 and query-protocol XML). An AwsError carries the JSON-protocol error name (`__type`),
 * the query-protocol code (`<Code>`, and the `x-amzn-query-error` header of the JSON protocol), the HTTP
 * status and who is at fault. Names, codes and statuses are those of the AWS service models.
 */
import { BrokerError } from '../../src/core/api.js';
import { errorResponse } from './xml.js';

export class AwsError extends Error {
  /** Query-protocol code (defaults to `code`). */
  readonly queryCode: string;
  constructor(
    /** JSON-protocol error name, e.g. `QueueDoesNotExist`. */
    readonly code: string,
    message: string,
    readonly status = 400,
    queryCode?: string,
    readonly fault: 'Sender' | 'Receiver' = status >= 500 ? 'Receiver' : 'Sender',
  ) {
    super(message);
    this.name = 'AwsError';
    this.queryCode = queryCode ?? code;
  }
}

/** SQS modeled errors: JSON name → [query code, status]. From the AWS SQS service model. */
const SQS_ERRORS: Record<string, [string, number]> = {
  BatchEntryIdsNotDistinct: ['AWS.SimpleQueueService.BatchEntryIdsNotDistinct', 400],
  BatchRequestTooLong: ['AWS.SimpleQueueService.BatchRequestTooLong', 400],
  EmptyBatchRequest: ['AWS.SimpleQueueService.EmptyBatchRequest', 400],
  InvalidAddress: ['InvalidAddress', 404],
  InvalidAttributeName: ['InvalidAttributeName', 400],
  InvalidAttributeValue: ['InvalidAttributeValue', 400],
  InvalidBatchEntryId: ['AWS.SimpleQueueService.InvalidBatchEntryId', 400],
  InvalidIdFormat: ['InvalidIdFormat', 400],
  InvalidMessageContents: ['InvalidMessageContents', 400],
  InvalidSecurity: ['InvalidSecurity', 403],
  MessageNotInflight: ['AWS.SimpleQueueService.MessageNotInflight', 400],
  OverLimit: ['OverLimit', 403],
  PurgeQueueInProgress: ['AWS.SimpleQueueService.PurgeQueueInProgress', 403],
  QueueDeletedRecently: ['AWS.SimpleQueueService.QueueDeletedRecently', 400],
  QueueDoesNotExist: ['AWS.SimpleQueueService.NonExistentQueue', 400],
  QueueNameExists: ['QueueAlreadyExists', 400],
  ReceiptHandleIsInvalid: ['ReceiptHandleIsInvalid', 404],
  RequestThrottled: ['RequestThrottled', 403],
  ResourceNotFoundException: ['ResourceNotFoundException', 404],
  TooManyEntriesInBatchRequest: ['AWS.SimpleQueueService.TooManyEntriesInBatchRequest', 400],
  UnsupportedOperation: ['AWS.SimpleQueueService.UnsupportedOperation', 400],
  // common AWS errors (not in the model: the SDK surfaces them by code)
  InvalidParameterValue: ['InvalidParameterValue', 400],
  MissingParameter: ['MissingParameter', 400],
  InvalidAction: ['InvalidAction', 400],
  AccessDenied: ['AccessDenied', 403],
  InvalidClientTokenId: ['InvalidClientTokenId', 403],
  SignatureDoesNotMatch: ['SignatureDoesNotMatch', 403],
  IncompleteSignature: ['IncompleteSignature', 400],
  MissingAuthenticationToken: ['MissingAuthenticationToken', 403],
  RequestExpired: ['RequestExpired', 400],
  SerializationException: ['SerializationException', 400],
  MalformedQueryString: ['MalformedQueryString', 400],
  RequestEntityTooLarge: ['RequestEntityTooLarge', 413],
  InternalFailure: ['InternalFailure', 500],
  ServiceUnavailable: ['ServiceUnavailable', 503],
};

/** An SQS error by its JSON-protocol name. */
export function sqsError(code: keyof typeof SQS_ERRORS | string, message: string): AwsError {
  const e = SQS_ERRORS[code];
  return e ? new AwsError(code, message, e[1], e[0]) : new AwsError(code, message, 400);
}

const NO_QUEUE = 'The specified queue does not exist.';
export const noQueue = () => sqsError('QueueDoesNotExist', NO_QUEUE);

/** SNS errors: query code → [SDK exception name, status]. From the AWS SNS service model. */
const SNS_ERRORS: Record<string, number> = {
  AuthorizationError: 403,
  BatchEntryIdsNotDistinct: 400,
  BatchRequestTooLong: 400,
  EmptyBatchRequest: 400,
  EndpointDisabled: 400,
  FilterPolicyLimitExceeded: 403,
  InternalError: 500,
  InvalidBatchEntryId: 400,
  InvalidParameter: 400,
  ParameterValueInvalid: 400,
  InvalidSecurity: 403,
  InvalidState: 400,
  NotFound: 404,
  ResourceNotFound: 404,
  SubscriptionLimitExceeded: 403,
  TagLimitExceeded: 400,
  TagPolicy: 400,
  Throttled: 429,
  TooManyEntriesInBatchRequest: 400,
  TopicLimitExceeded: 403,
  ValidationError: 400,
  InvalidAction: 400,
  MissingParameter: 400,
  InvalidClientTokenId: 403,
  SignatureDoesNotMatch: 403,
  IncompleteSignature: 400,
  MissingAuthenticationToken: 403,
  RequestExpired: 400,
  MalformedQueryString: 400,
  RequestEntityTooLarge: 413,
  ServiceUnavailable: 503,
};

export function snsError(code: string, message: string): AwsError {
  return new AwsError(code, message, SNS_ERRORS[code] ?? 400);
}

/** Map an engine error (or anything thrown) to an AWS error; unknown errors become InternalFailure. */
export function toAwsError(err: unknown, service: 'sqs' | 'sns' = 'sqs'): AwsError {
  if (err instanceof AwsError) return err;
  if (err instanceof BrokerError) {
    switch (err.code) {
      case 'not-found':
        return service === 'sqs' ? noQueue() : snsError('NotFound', err.message);
      case 'limit':
        return service === 'sqs' ? sqsError('OverLimit', err.message) : snsError('Throttled', err.message);
      case 'invalid':
        return service === 'sqs' ? sqsError('InvalidParameterValue', err.message) : snsError('InvalidParameter', err.message);
      case 'unauthorized':
      case 'unauthenticated':
        return service === 'sqs' ? sqsError('AccessDenied', err.message) : snsError('AuthorizationError', err.message);
      case 'closed':
        return service === 'sqs' ? sqsError('ServiceUnavailable', 'The broker is shutting down.') : snsError('ServiceUnavailable', 'The broker is shutting down.');
      case 'unavailable':
        // a resource alarm or a failed store commit: 503, which every AWS SDK retries with back-off
        return service === 'sqs' ? sqsError('ServiceUnavailable', err.message) : snsError('ServiceUnavailable', err.message);
      default:
        break;
    }
  }
  return service === 'sqs'
    ? sqsError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.')
    : snsError('InternalError', 'The request processing has failed because of an unknown error, exception or failure.');
}

/**
 * The JSON protocol's `__type` for the common errors SQS does not model: AWS names them so (boto3 shows it as
 * `QueryErrorCode`; the SDKs take the error's name from the query-error header either way).
 */
const JSON_TYPES: Record<string, string> = {
  InvalidParameterValue: 'InvalidParameterValueException',
  MissingParameter: 'MissingRequiredParameterException',
};

/** An error in the AWS JSON 1.0 protocol: `__type` names the shape (`<shapePrefix>#<code>`), the header carries the query code. */
export function jsonError(err: AwsError, shapePrefix: string): { status: number; headers: Record<string, string>; body: string } {
  return {
    status: err.status,
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amzn-query-error': `${err.queryCode};${err.fault}`,
    },
    body: JSON.stringify({ __type: `${shapePrefix}#${JSON_TYPES[err.code] ?? err.code}`, message: err.message }),
  };
}

/** An error as a query-protocol `<ErrorResponse>` in the API's XML namespace. */
export function queryError(ns: string, err: AwsError, requestId: string, detail = true): string {
  // the query protocol's wording of a missing queue is older than the JSON protocol's
  const message = err.code === 'QueueDoesNotExist' && err.message === NO_QUEUE ? 'The specified queue does not exist for this wsdl version.' : err.message;
  return errorResponse(ns, err.fault, err.queryCode, message, requestId, detail);
}
