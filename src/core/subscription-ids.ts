/**
 * Engine ids of topic subscriptions that outlive a connection. They name the subscription's queue (in the
 * store too), so every protocol that reaches the same subscription — JMS/OpenWire and AMQP durable
 * subscribers, STOMP `activemq.subscriptionName`, MQTT persistent sessions, the admin API — must build the
 * same id: they all call these.
 */

/** A durable subscription `name` owned by client id `clientId` (JMS: clientID + subscription name). */
export function durableSubscriptionId(clientId: string, name: string): string {
  return `durable:${clientId}:${name}`;
}

/** The one queue of a shared subscription group (JMS 2 shared durable, AMQP shared, MQTT `$share`). */
export function sharedSubscriptionId(group: string): string {
  return `shared:${group}`;
}

/** A non-durable shared subscription: one per group and topic pattern, gone with its last member. */
export function volatileSharedSubscriptionId(group: string, pattern: string): string {
  return `shared-nd:${group}:${pattern}`;
}
