/**
 * The protocol and HTTP modules the broker serves by default — the one list to add a new adapter to.
 * A listener whose module is not in these lists is skipped at start (debug log).
 */
import type { BrokerConfig } from './config.js';
import type { HttpModule, ProtocolModule } from '../transport/types.js';
import type { AmqpModuleOptions } from '../../protocols/amqp/index.js';
import type { MqttOptions } from '../../protocols/mqtt/adapter.js';
import type { AdminModuleOptions } from '../admin/index.js';
import { stompModule } from '../../protocols/stomp/index.js';
import { mqttModule } from '../../protocols/mqtt/index.js';
import { amqpModule } from '../../protocols/amqp/index.js';
import { openwireModule } from '../../protocols/openwire/adapter.js';
import { sqsHttpModule, type SqsModuleOptions } from './aws-module.js';
import { adminModule } from '../admin/index.js';
import type { DefinitionsRegistry } from '../admin/definitions-port.js';

/** Per-broker objects more than one module shares (made by the composition root at each start). */
export interface SharedServices {
  /** SQS/SNS register their definitions sections here; the admin module exports and imports through it. */
  definitions: DefinitionsRegistry;
}

export const defaultProtocols: ProtocolModule[] = [stompModule, mqttModule, amqpModule, openwireModule];

/** SQS + SNS share `listeners.sqs`: one module dispatches both APIs. The admin console, REST API and /metrics are on `listeners.admin`. */
export const defaultHttp: HttpModule[] = [sqsHttpModule, adminModule];

/** Each module's own options, out of the broker configuration (`AdapterContext.options`). */
export function moduleOptions(name: string, config: BrokerConfig, shared?: SharedServices): unknown {
  switch (name) {
    case 'mqtt':
      return config.mqtt satisfies MqttOptions;
    case 'amqp':
      return { defaultAddressKind: config.amqp.defaultAddressKind } satisfies AmqpModuleOptions;
    case 'sqs':
      return { ...config.sqs, listener: config.listeners.sqs, definitions: shared?.definitions } satisfies SqsModuleOptions;
    case 'admin':
      return { ...config.admin, securityUsers: config.security.users, securityAcl: config.security.acl, dataDir: config.dataDir, destinations: config.destinations, definitions: shared?.definitions } satisfies AdminModuleOptions;
    default:
      return undefined;
  }
}

/**
 * The largest WebSocket message the shared listener takes: the frame limit, or a protocol's own larger packet limit
 * (mqtt.maxPacketSize, advertised to v5 clients as their Maximum Packet Size and served over TCP) when that protocol
 * is on the listener. The adapters still bound what they accept themselves.
 */
export function webSocketMessageLimit(config: BrokerConfig, served: readonly string[]): number {
  let max = config.limits.maxFrameSize;
  if (served.includes('mqtt')) max = Math.max(max, config.mqtt.maxPacketSize);
  return max;
}
