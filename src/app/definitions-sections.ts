/**
 * Definitions sections of the stream protocol adapters (the SQS/SNS ones are registered by aws-module.ts): the
 * composition root adapts an adapter's own export/import to the admin module's port (src/admin/definitions-port.ts),
 * so neither imports the other.
 */
import type { DefinitionsRegistry } from '../admin/definitions-port.js';
import { MqttAdapter } from '../../protocols/mqtt/adapter.js';
import type { MqttSessionDefinition } from '../../protocols/mqtt/definitions.js';
import type { StreamAdapter } from '../transport/types.js';

/** Register what an adapter keeps beside the engine (MQTT persistent sessions) in the broker's definitions. */
export function registerAdapterDefinitions(adapter: StreamAdapter, registry: DefinitionsRegistry): void {
  if (adapter instanceof MqttAdapter) {
    registry.register({
      key: 'mqtt',
      kinds: ['mqttSessions'],
      owns: (kind, name) => kind === 'subscription' && adapter.ownsSubscription(name),
      export: () => ({ sessions: adapter.exportDefinitions() }),
      parse: (value) => adapter.parseDefinitions(value),
      import: async (parsed, report) => {
        for (const o of await adapter.importDefinitions(parsed as MqttSessionDefinition[])) {
          if (o.outcome === 'created') report.created('mqttSessions');
          else if (o.outcome === 'existing') report.existing('mqttSessions');
          else if (o.outcome === 'failed') report.skipped(`mqtt.sessions.${o.name}`, o.reason);
        }
      },
    });
  }
}
