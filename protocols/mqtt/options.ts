/** The MQTT adapter's options (the `mqtt:` section of the configuration; docs/configuration.md). */
import { NEVER } from './session.js';

export interface MqttOptions {
  maxPacketSize: number;
  receiveMaximum: number;
  maxInflight: number;
  maxQueuedMessages: number;
  maxTopicLength: number;
  maxTopicLevels: number;
  maxSubscriptionsPerClient: number;
  topicAliasMaximum: number;
  /** Use topic aliases towards v5 clients that allow them (off: paho-mqtt 1.6 does not resolve them; mosquitto never sends them). */
  outboundTopicAliases: boolean;
  maxKeepAlive: number;
  connectTimeout: number;
  maxSessionExpiry: number;
  maxClientIdLength: number;
  sysInterval: number;
}

export type MqttConfig = MqttOptions;

export const MQTT_DEFAULTS: MqttConfig = {
  maxPacketSize: 0,
  receiveMaximum: 1024,
  maxInflight: 1024,
  maxQueuedMessages: 100_000,
  maxTopicLength: 65535,
  maxTopicLevels: 128,
  maxSubscriptionsPerClient: 10_000,
  topicAliasMaximum: 1024,
  outboundTopicAliases: false,
  maxKeepAlive: 0,
  connectTimeout: 10_000,
  maxSessionExpiry: NEVER,
  maxClientIdLength: 1024,
  sysInterval: 10,
};
