/**
 * MQTT 3.1, 3.1.1 and 5.0 for Wharf: TCP (1883), TLS (8883) and WebSocket (subprotocols `mqtt`, `mqttv3.1`).
 * One session layer on the `mqtt-packet` codec for all three versions; all state lives in the engine.
 */
import type { ProtocolModule } from '../../src/transport/types.js';
import { MqttAdapter } from './adapter.js';

export const mqttModule: ProtocolModule = {
  name: 'mqtt',
  wsSubprotocols: ['mqtt', 'mqttv3.1'],
  // MQTT-6.0.0-1: a text data frame closes the connection; a client offering no subprotocol is known by its CONNECT
  wsOptions: { binaryOnly: true, firstBytes: [0x10] },
  create: (ctx) => new MqttAdapter(ctx),
};

export { MqttAdapter } from './adapter.js';
export { topicToCore, coreToTopic, filterToCore, coreToFilter } from './topics.js';
