"""QoS 2 across SIGKILL of the broker, with python3-paho-mqtt's own session state (clean_session False).

argv: port, count. A subscriber's persistent session is set up, then a publisher streams `count` QoS 2 messages with
20 in flight. After a third of them completed (PUBCOMP) it prints KILL and keeps going: the test kills the broker and
restarts it on the same port, paho reconnects and resends what it had in flight (PUBLISH with dup set before PUBREC,
PUBREL after it). Once every message completed, the subscriber's session is read back. Prints one JSON line.
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

port, count = int(sys.argv[1]), int(sys.argv[2])
TOPIC = 'crash/qos2'


def connected(c):
    ev = threading.Event()
    c.on_connect = lambda *a: ev.set()
    return ev


sub = mqtt.Client(client_id='crash-q2-sub', clean_session=False, protocol=mqtt.MQTTv311)
ev = connected(sub)
sub.connect('127.0.0.1', port)
sub.loop_start()
assert ev.wait(10), 'subscriber connect'
done = threading.Event()
sub.subscribe(TOPIC, 2)
sub.on_subscribe = lambda *a: done.set()
assert done.wait(10), 'suback'
sub.disconnect()
sub.loop_stop()

pub = mqtt.Client(client_id='crash-q2-pub', clean_session=False, protocol=mqtt.MQTTv311)
pub.max_inflight_messages_set(20)
pub.max_queued_messages_set(0)
pub.reconnect_delay_set(0.1, 0.5)
completed = set()
lock = threading.Lock()
mid_to_body = {}
pub.on_publish = lambda c, u, mid: completed.add(mid)
ev = connected(pub)
pub.connect('127.0.0.1', port)
pub.loop_start()
assert ev.wait(10), 'publisher connect'
killed = False
for i in range(count):
    info = pub.publish(TOPIC, f'q2-{i}', qos=2)
    mid_to_body[info.mid] = f'q2-{i}'
    while len(mid_to_body) - len(completed) >= 20:
        time.sleep(0.005)
    if not killed and len(completed) >= count // 3:
        killed = True
        print('KILL', flush=True)
deadline = time.time() + 60
while len(completed) < count and time.time() < deadline:
    time.sleep(0.05)
assert len(completed) == count, f'{len(completed)} of {count} completed'
pub.disconnect()
pub.loop_stop()

got = []
sub = mqtt.Client(client_id='crash-q2-sub', clean_session=False, protocol=mqtt.MQTTv311)
sub.on_message = lambda c, u, m: got.append(m.payload.decode())
ev = connected(sub)
sub.connect('127.0.0.1', port)
sub.loop_start()
assert ev.wait(10), 'subscriber reconnect'
deadline = time.time() + 30
while len(set(got)) < count and time.time() < deadline:
    time.sleep(0.05)
time.sleep(0.3)  # a second copy of anything would have come by now
sub.disconnect()
sub.loop_stop()
print(json.dumps({'completed': len(completed), 'received': got}), flush=True)
