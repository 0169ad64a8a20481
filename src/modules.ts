/**
 * The protocol and HTTP modules the broker serves by default — the one list to add a new adapter to.
 * A listener whose module is not in these lists is skipped at start (debug log).
 */
import type { HttpModule, ProtocolModule } from './transport/types.js';
import { stompModule } from '../protocols/stomp/index.js';
import { mqttModule } from '../protocols/mqtt/index.js';
import { amqpModule } from '../protocols/amqp/index.js';
import { sqsHttpModule } from '../protocols/sqs/index.js';
import { adminModule } from './admin/index.js';

export const defaultProtocols: ProtocolModule[] = [stompModule, mqttModule, amqpModule];

/** SQS + SNS share `listeners.sqs`: one module dispatches both APIs. The admin console, REST API and /metrics are on `listeners.admin`. */
export const defaultHttp: HttpModule[] = [sqsHttpModule, adminModule];
