/**
 * PUBACK, PUBREC, PUBCOMP (the client acknowledging our PUBLISHes, outbound.ts) and PUBREL (the second step of an
 * inbound QoS 2 PUBLISH, handlers/publish.ts). MQTT 5 §4.3.2, §4.3.3.
 */
import { encodeAck, PUBCOMP, PUBREL, RC } from '../codec.js';
import type { ConnectionContext } from '../context.js';
import { dropOut2, finishOut, pump } from '../outbound.js';
import { kvKeys } from '../session.js';
import { inboundDone } from './publish.js';

export function handlePuback(c: ConnectionContext, pid: number): void {
  const e = c.outbound.inflight.get(pid);
  if (!e || e.qos !== 1) return;
  c.outbound.inflight.delete(pid);
  finishOut(c, e);
}

export function handlePubrec(c: ConnectionContext, pid: number, reason: number): void {
  const out = c.outbound;
  const e = out.inflight.get(pid);
  if (!e || e.qos !== 2) {
    c.write(encodeAck(PUBREL, pid, c.version, c.version === 5 ? RC.packetIdNotFound : 0));
    return;
  }
  if (e.state === 'pubrel') {
    c.write(encodeAck(PUBREL, pid, c.version));
    return;
  }
  // a PUBREC with a failure reason ends the flow: the message counts as delivered (MQTT 5 §4.3.3)
  if (reason >= 0x80) {
    out.inflight.delete(pid);
    finishOut(c, e);
    return;
  }
  const s = c.session!;
  e.state = 'pubrel';
  s.pubrel.add(pid);
  if (e.key) s.pidByMsg.delete(e.key);
  const d = e.d;
  e.d = null;
  const ops: Promise<unknown>[] = [];
  if (d) ops.push(d.consumer.ack(d.id).catch(() => undefined));
  if (s.persistent) ops.push(c.host.engine.kvPut(kvKeys.pubrel(c.clientId, pid), 1));
  // issued in the same event-loop turn as the PUBREL state, so (group commit) in the same store transaction
  dropOut2(c, pid);
  if (!ops.length) c.write(encodeAck(PUBREL, pid, c.version));
  else
    Promise.all(ops).then(
      () => c.write(encodeAck(PUBREL, pid, c.version)),
      (err) => c.host.logger.warn({ err, clientId: c.clientId }, 'mqtt: could not store PUBREL state'),
    );
}

/** The client releases an inbound QoS 2 PUBLISH: forget its packet id, then PUBCOMP. */
export function handlePubrel(c: ConnectionContext, pid: number): void {
  const s = c.session!;
  if (!s.in2.has(pid)) {
    c.write(encodeAck(PUBCOMP, pid, c.version, c.version === 5 ? RC.packetIdNotFound : 0));
    return;
  }
  s.in2.delete(pid);
  const finish = () => {
    c.write(encodeAck(PUBCOMP, pid, c.version));
    inboundDone(c);
  };
  if (s.persistent) {
    c.host.engine.kvDelete(kvKeys.in2(c.clientId, pid)).then(finish, (err) => {
      c.host.logger.warn({ err, clientId: c.clientId }, 'mqtt: could not delete QoS 2 state');
      finish();
    });
  } else finish();
}

export function handlePubcomp(c: ConnectionContext, pid: number): void {
  const e = c.outbound.inflight.get(pid);
  if (!e || e.state !== 'pubrel') return;
  c.outbound.inflight.delete(pid);
  const s = c.session!;
  s.pubrel.delete(pid);
  if (s.persistent) c.host.engine.kvDelete(kvKeys.pubrel(c.clientId, pid)).catch(() => undefined);
  dropOut2(c, pid); // in case a crash kept the stored id next to the PUBREL state (nothing else can hold the id now)
  pump(c);
}
