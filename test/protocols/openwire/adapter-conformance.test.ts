/**
 * JMS behaviour found different from ActiveMQ 5.17's own broker by running the same programs (ActiveMQ's client) against
 * both: each scenario asserts what ActiveMQ's broker does.
 */
import { javaHarness } from './java-harness.js';
import { jms, startOpenWireBroker, type OpenWireBroker } from './adapter-helpers.js';

describe('openwire adapter: conformance with ActiveMQ 5.17', function () {
  this.timeout(120_000);
  let b: OpenWireBroker;

  before(function () {
    javaHarness();
  });
  beforeEach(async () => {
    b = await startOpenWireBroker();
  });
  afterEach(async () => {
    await b.close();
  });

  it('a queue consumer selector on JMSRedelivered / JMSXDeliveryCount matches the delivery state the consumer would get', async () => {
    await jms(b.port, 'selector-redelivered');
  });
  it('consumer.priority: a message goes to the highest-priority consumer with room', async () => {
    await jms(b.port, 'consumer-priority');
  });
  it('a queue consumer on a wildcard reads every matching queue, also one created later (transacted, prefetch 0)', async () => {
    await jms(b.port, 'wildcard-queue');
  });
  it('a queue consumer on a composite destination reads each of its queues; CLIENT_ACKNOWLEDGE acks across them', async () => {
    await jms(b.port, 'composite-consumer');
  });
  it('a topic consumer on a composite destination gets what is published to each of its topics', async () => {
    await jms(b.port, 'composite-topic-consumer');
  });
  it('destroyDestination is refused while the queue has a consumer, then removes the queue and its messages', async () => {
    await jms(b.port, 'destroy-destination');
  });
  it('DestinationSource (ActiveMQ.Advisory.Queue / Topic) lists the queues and topics there are, then those created and destroyed', async () => {
    await jms(b.port, 'destination-source');
  });
  it('JMSXGroupFirstForConsumer marks the first message of a group a consumer gets (assigned, moved, reopened)', async () => {
    await jms(b.port, 'group-first');
  });
  it('with ACLs a wildcard queue consumer reads only the queues its user may read, and is refused when that is none', async () => {
    b.broker.engine.security = {
      authenticate: async (c) => (c.username === 'alice' ? { username: 'alice', anonymous: false, groups: [] } : null),
      authorize: (_p, action, a) => !(action === 'consume' && (a?.name.startsWith('jms.secret') || a?.name === 'jms.acl.hidden')),
    };
    await jms(b.port, 'wildcard-acl');
  });
  it('a durable subscription on a temporary topic is refused', async () => {
    await jms(b.port, 'durable-temp-topic');
  });
});
