import { javaHarness } from './java-harness.js';
import { jms, startOpenWireBroker, type OpenWireBroker } from './adapter-helpers.js';

// Unmodified ActiveMQConnectionFactory JMS code (JmsScenarios.java) against a Wharf broker.
describe('openwire adapter: JMS applications on ActiveMQ\'s client', function () {
  this.timeout(120_000);
  let b: OpenWireBroker;

  before(function () {
    javaHarness(); // compiles once; fails with the Debian packages to install when javac or a jar is missing
  });
  beforeEach(async () => {
    b = await startOpenWireBroker();
  });
  afterEach(async () => {
    await b.close();
  });

  it('Text, Bytes, Map, Stream, Object and plain messages keep headers and typed properties', async () => {
    await jms(b.port, 'types');
  });
  it('messages without a body (ObjectMessage without an object is null) and a disabled JMSTimestamp stays 0', async () => {
    await jms(b.port, 'empty-bodies');
  });
  it('compressed bodies (useCompression) arrive decompressed and intact', async () => {
    await jms(b.port, 'types', '?jms.useCompression=true');
  });
  it('a client connecting with a nio:// URL (README ports table)', async () => {
    await jms(b.port, 'nio');
  });
  it('a topic with two subscribers (one on a wildcard)', async () => {
    await jms(b.port, 'topic');
  });
  it('AUTO_ACKNOWLEDGE and DUPS_OK_ACKNOWLEDGE', async () => {
    await jms(b.port, 'ack-auto');
  });
  it('CLIENT_ACKNOWLEDGE and session.recover() redelivery with JMSRedelivered and JMSXDeliveryCount', async () => {
    await jms(b.port, 'ack-client');
  });
  it('INDIVIDUAL_ACKNOWLEDGE', async () => {
    await jms(b.port, 'ack-individual');
  });
  it('unacknowledged messages go to the next consumer when a connection closes', async () => {
    await jms(b.port, 'close-unacked');
  });
  it('closing a consumer, session or connection: prefetched messages the application never saw come back not redelivered, JMSXDeliveryCount 1', async () => {
    await jms(b.port, 'close-prefetched');
  });
  it('transacted sessions: commit and rollback of sends and receives', async () => {
    await jms(b.port, 'tx');
  });
  it('selectors, and InvalidSelectorException', async () => {
    await jms(b.port, 'selector');
  });
  it('durable subscriber offline then back, unsubscribe', async () => {
    await jms(b.port, 'durable');
  });
  it('request/reply over a temporary queue across two connections', async () => {
    await jms(b.port, 'temp-reply');
  });
  it('QueueBrowser', async () => {
    await jms(b.port, 'browser');
  });
  it('QueueBrowser enumerates a queue of 2,500 messages to the end, in order, with and without a selector', async () => {
    await jms(b.port, 'browse-many');
  });
  it('prefetch 0 (MessagePull)', async () => {
    await jms(b.port, 'prefetch0');
  });
  it('client redelivery policy exhausted → DLQ.<queue>', async () => {
    await jms(b.port, 'dlq');
  });
  it('a MessageListener receives 1,000 messages in order', async () => {
    await jms(b.port, 'listener');
  });
  it('a duplicate client id is refused with InvalidClientIDException', async () => {
    await jms(b.port, 'client-id');
  });
  it('composite destinations', async () => {
    await jms(b.port, 'composite');
  });
});
