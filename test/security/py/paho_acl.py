"""Drive Wharf (or mosquitto) with Debian's python3-paho-mqtt (1.6.x) under ACLs; print one JSON line for mocha.

Usage: paho_acl.py <scenario> <host> <port> <311|5> <tag>
  retained   `publisher` (may write everything) leaves retained messages on news/politics/<tag>,
             news/sports/<tag> and orders/<tag>; `fan` (may read news/sports/# only) subscribes to `#` and to
             news/+/<tag>: which retained (and live) messages reach it
  will       `reader` (may not write news/sports/...) connects with a will on news/sports/<tag>/will and its socket
             dies; `fan` subscribed to that topic: whether the will arrives (and whether the CONNECT was accepted)
  shared     `fan` asks for $share/g<tag>/# (refused: one queue serves the group, it cannot be filtered for one
             member) and $share/s<tag>/news/sports/<tag>/# (granted); `publisher` joins $share/g<tag>/# and gets
             every message published to news/politics/<tag>
  durable    `fan` (clean session off, session expiry never) subscribes to `#` at QoS 1 and disconnects
  resume     (after a broker restart) `publisher` publishes to news/politics/<tag>, orders/<tag> and
             news/sports/<tag>; then `fan` resumes its session: what it gets
Users and passwords: <user>-pw. Exit status 0 even on failed expectations: mocha asserts the JSON.
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

scenario, HOST, PORT, VERSION, TAG = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
PROTO = mqtt.MQTTv5 if VERSION == '5' else mqtt.MQTTv311


def client(user, will=None, persistent=False):
    cid = f'{user}-durable-{TAG}' if persistent else f'{user}-{scenario}-{TAG}'
    if PROTO == mqtt.MQTTv5:
        c = mqtt.Client(client_id=cid, protocol=PROTO)
    else:
        c = mqtt.Client(client_id=cid, protocol=PROTO, clean_session=not persistent)
    c.username_pw_set(user, f'{user}-pw')
    if will:
        c.will_set(will, b'will-of-' + user.encode(), qos=1)
    st = {'rc': None, 'msgs': [], 'granted': {}}
    ready = threading.Event()
    subacked = threading.Condition()

    def on_connect(cl, ud, flags, rc, props=None):
        st['rc'] = rc.value if hasattr(rc, 'value') else rc
        ready.set()

    def on_subscribe(cl, ud, mid, granted, props=None):
        with subacked:
            st['granted'][mid] = [g.value if hasattr(g, 'value') else g for g in granted]
            subacked.notify_all()

    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_message = lambda cl, ud, m: st['msgs'].append([m.topic, m.payload.decode(), bool(m.retain)])
    if PROTO == mqtt.MQTTv5 and persistent:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0xFFFFFFFF
        c.connect(HOST, PORT, keepalive=30, clean_start=False, properties=props)
    else:
        c.connect(HOST, PORT, keepalive=30)
    c.loop_start()
    ready.wait(10)

    def subscribe(topic):
        _, mid = c.subscribe(topic, qos=1)
        with subacked:
            subacked.wait_for(lambda: mid in st['granted'], 10)
        return st['granted'].get(mid)

    return c, st, subscribe


def end(c):
    c.disconnect()
    c.loop_stop()


def barrier(c):
    """A QoS 1 round trip on a topic of its own: what the broker sent before it has arrived."""
    c.publish(f'sync/{TAG}', b'', qos=1).wait_for_publish(10)


out = {}
if scenario == 'retained':
    pub, _, _ = client('publisher')
    for t in (f'news/politics/{TAG}', f'news/sports/{TAG}', f'orders/{TAG}'):
        pub.publish(t, 'retained ' + t, qos=1, retain=True).wait_for_publish(10)
    fan, st, subscribe = client('fan')
    out['connack'] = st['rc']
    out['granted'] = [subscribe('#'), subscribe(f'news/+/{TAG}')]
    for t in (f'news/politics/{TAG}', f'news/sports/{TAG}', f'orders/{TAG}'):
        pub.publish(t, 'live ' + t, qos=1).wait_for_publish(10)
    # the fan may read its own marker topic under news/sports: once it is in, everything sent before it is too
    pub.publish(f'news/sports/{TAG}/end', 'end', qos=1).wait_for_publish(10)
    deadline = time.time() + 10
    while time.time() < deadline and not any(m[1] == 'end' for m in st['msgs']):
        time.sleep(0.05)
    out['received'] = sorted(m for m in st['msgs'] if m[1] != 'end')
    end(fan)
    end(pub)
elif scenario == 'will':
    fan, fst, subscribe = client('fan')
    out['granted'] = subscribe(f'news/sports/{TAG}/#')
    victim, vst, _ = client('reader', will=f'news/sports/{TAG}/will')
    out['connack'] = vst['rc']
    victim.loop_stop()
    victim.socket().close()  # no DISCONNECT: the will is due
    # a will the fan may read, from a user who may write it: once it is in, the first one had its chance
    control, cst, _ = client('publisher', will=f'news/sports/{TAG}/control')
    control.loop_stop()
    control.socket().close()
    deadline = time.time() + 10
    while time.time() < deadline and not any(m[0].endswith('/control') for m in fst['msgs']):
        time.sleep(0.05)
    out['received'] = sorted(fst['msgs'])
    end(fan)
elif scenario == 'shared':
    fan, fst, fsub = client('fan')
    pub, pst, psub = client('publisher')
    out['granted'] = [fsub(f'$share/g{TAG}/#'), fsub(f'$share/s{TAG}/news/sports/{TAG}/#'), psub(f'$share/g{TAG}/#')]
    for i in range(5):
        pub.publish(f'news/politics/{TAG}', f'politics {i}', qos=1).wait_for_publish(10)
    pub.publish(f'news/sports/{TAG}/end', 'end', qos=1).wait_for_publish(10)
    deadline = time.time() + 10
    while time.time() < deadline and not (any(m[1] == 'end' for m in fst['msgs']) and any(m[1] == 'end' for m in pst['msgs'])):
        time.sleep(0.05)
    out['received'] = sorted(fst['msgs'])
    out['publisher'] = sorted(m[1] for m in pst['msgs'])
    end(fan)
    end(pub)
elif scenario == 'durable':
    fan, st, subscribe = client('fan', persistent=True)
    out['connack'] = st['rc']
    out['granted'] = subscribe('#')
    end(fan)
elif scenario == 'resume':
    pub, _, _ = client('publisher')
    for t in (f'news/politics/{TAG}', f'orders/{TAG}', f'news/sports/{TAG}'):
        pub.publish(t, 'offline ' + t, qos=1).wait_for_publish(10)
    end(pub)
    fan, st, _ = client('fan', persistent=True)
    out['connack'] = st['rc']
    deadline = time.time() + 10
    while time.time() < deadline and not any(m[1] == f'offline news/sports/{TAG}' for m in st['msgs']):
        time.sleep(0.05)
    time.sleep(0.3)  # anything queued after the sports message would have come by now (the queue is FIFO)
    out['received'] = sorted(m for m in st['msgs'] if TAG in m[0])
    end(fan)
else:
    out['error'] = f'unknown scenario {scenario}'
print(json.dumps(out), flush=True)
