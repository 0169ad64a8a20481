"""Drive Wharf with Debian's python3-paho-mqtt (1.6.x) and print one JSON line for mocha to assert.

Usage: paho_more.py <scenario> <host> <port> [args...]
  ws <ws-port> <311|5> <tag>    WebSocket transport: connect, subscribe, publish QoS 1, receive
  connack                       MQTT 5 CONNACK properties as paho reads them
  shared <tag>                  two paho clients on $share/g/<topic> split 20 QoS 1 messages
  will <tag>                    Will Delay Interval: will after the socket dies, not after DISCONNECT
  victim <tag> <delay>          (internal) connect with a will and wait to be killed
  session <tag>                 Session Expiry + clean_start=False: queued QoS 1 after reconnect
  alias <tag>                   publisher uses a Topic Alias
  retain <tag>                  Retain Handling 0 vs 2
  userprops <tag>               user properties (order, repeated names, UTF-8) round trip
  overlap <tag>                 MQTT 3.1.1 overlapping subscriptions, live and queued for a persistent session
  suback <tag> <311|5>          SUBACK before the retained messages of a subscription (new, and the same filter again)
Everything is MQTT 5 except `ws 311` and `overlap`. Exit status 0 even on failed expectations: mocha asserts the JSON.
"""
import json
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

scenario = sys.argv[1]
HOST = sys.argv[2]
PORT = int(sys.argv[3])
ARGS = sys.argv[4:]


def out(d):
    print(json.dumps(d), flush=True)


def props_dict(p):
    """A paho Properties object as a plain dict (None when absent)."""
    if p is None:
        return None
    d = {}
    for name in p.names:
        attr = name.replace(' ', '')
        if hasattr(p, attr):
            v = getattr(p, attr)
            d[attr] = v.hex() if isinstance(v, (bytes, bytearray)) else v
    return d


class Client:
    """A paho client with its messages, CONNACK and SUBACKs collected; loop in a background thread."""

    def __init__(self, client_id, version=mqtt.MQTTv5, transport='tcp', port=PORT, ws_path='/mqtt', clean_session=None):
        self.c = mqtt.Client(client_id=client_id, protocol=version, transport=transport, clean_session=clean_session)
        if transport == 'websockets':
            self.c.ws_set_options(path=ws_path)
        self.version = version
        self.port = port
        self.msgs = []
        self.connack = None
        self.disconnected = threading.Event()
        self.connected = threading.Event()
        self.subacks = {}
        self.lock = threading.Condition()
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_disconnect = self._on_disconnect

    def _on_connect(self, c, u, flags, rc, properties=None):
        self.connack = {'flags': dict(flags), 'rc': int(rc.value) if hasattr(rc, 'value') else int(rc),
                        'properties': props_dict(properties)}
        self.connected.set()

    def _on_disconnect(self, c, u, rc, properties=None):
        self.disconnected.set()

    def _on_subscribe(self, c, u, mid, granted, properties=None):
        with self.lock:
            self.subacks[mid] = [int(g.value) if hasattr(g, 'value') else int(g) for g in granted]
            self.lock.notify_all()

    def _on_message(self, c, u, m):
        d = {'topic': m.topic, 'payload': m.payload.decode('utf-8', 'replace'), 'qos': m.qos,
             'retain': bool(m.retain), 't': time.time()}
        if self.version == mqtt.MQTTv5:
            d['properties'] = props_dict(getattr(m, 'properties', None))
        with self.lock:
            self.msgs.append(d)
            self.lock.notify_all()

    def connect(self, clean_start=True, session_expiry=None, will=None, keepalive=30, topic_alias_max=None):
        props = None
        if self.version == mqtt.MQTTv5:
            props = Properties(PacketTypes.CONNECT)
            if session_expiry is not None:
                props.SessionExpiryInterval = session_expiry
            if topic_alias_max is not None:
                props.TopicAliasMaximum = topic_alias_max
        if will is not None:
            topic, payload, delay = will
            wp = None
            if self.version == mqtt.MQTTv5:
                wp = Properties(PacketTypes.WILLMESSAGE)
                wp.WillDelayInterval = delay
            self.c.will_set(topic, payload, qos=1, properties=wp)
        if self.version == mqtt.MQTTv5:
            self.c.connect(HOST, self.port, keepalive=keepalive, clean_start=clean_start, properties=props)
        else:
            self.c.connect(HOST, self.port, keepalive=keepalive)
        self.c.loop_start()
        if not self.connected.wait(5):
            raise RuntimeError('no CONNACK')
        return self.connack

    def subscribe(self, topic, qos=1, options=None):
        if options is not None:
            rc, mid = self.c.subscribe(topic, options=options)
        else:
            rc, mid = self.c.subscribe(topic, qos=qos)
        with self.lock:
            self.lock.wait_for(lambda: mid in self.subacks, 5)
            return self.subacks.get(mid)

    def publish(self, topic, payload, qos=1, retain=False, properties=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(5)
        return info.is_published()

    def wait(self, n, timeout=5.0):
        with self.lock:
            self.lock.wait_for(lambda: len(self.msgs) >= n, timeout)
            return list(self.msgs)

    def disconnect(self):
        self.c.disconnect()
        self.disconnected.wait(5)
        self.c.loop_stop()


def run_ws():
    ws_port, version, tag = int(ARGS[0]), ARGS[1], ARGS[2]
    proto = mqtt.MQTTv5 if version == '5' else mqtt.MQTTv311
    c = Client('pyws-' + tag, version=proto, transport='websockets', port=ws_port)
    ack = c.connect()
    granted = c.subscribe('pyws/' + tag + '/#', qos=1)
    published = c.publish('pyws/' + tag + '/a', 'over-ws', qos=1)
    msgs = c.wait(2, 10)  # its own message plus one from MQTT.js (the test publishes when it sees ours)
    c.disconnect()
    out({'connack': ack, 'granted': granted, 'published': published, 'msgs': msgs})


def run_connack():
    named = Client('pyconnack')
    a = named.connect(session_expiry=7)
    named.disconnect()
    anon = Client('')
    b = anon.connect()
    anon.disconnect()
    out({'named': a, 'anonymous': b})


def run_shared():
    tag = ARGS[0]
    topic = 'pyshare/' + tag
    members = [Client('pyshare-%s-%d' % (tag, i)) for i in range(2)]
    granted = []
    for m in members:
        m.connect()
        granted.append(m.subscribe('$share/g/' + topic, qos=1))
    pub = Client('pyshare-pub-' + tag)
    pub.connect()
    n = 20
    for i in range(n):
        pub.publish(topic, 'm%d' % i, qos=1)
    deadline = time.time() + 10
    while time.time() < deadline and sum(len(m.msgs) for m in members) < n:
        time.sleep(0.05)
    time.sleep(0.5)  # any duplicate would arrive now
    for m in members + [pub]:
        m.disconnect()
    out({'granted': granted, 'got': [[x['payload'] for x in m.msgs] for m in members]})


def run_victim():
    tag, delay = ARGS[0], int(ARGS[1])
    c = Client('pywill-' + tag)
    c.connect(session_expiry=30, will=('pywill/' + tag, 'gone-' + tag, delay))
    out({'connected': True})
    time.sleep(60)


def run_will():
    tag = ARGS[0]
    watcher = Client('pywill-watch-' + tag)
    watcher.connect()
    watcher.subscribe('pywill/#', qos=1)
    # 1. a clean DISCONNECT: no will
    polite = Client('pywill-polite-' + tag)
    polite.connect(session_expiry=30, will=('pywill/polite-' + tag, 'should-not-arrive', 0))
    polite.disconnect()
    # 2. killed: the will after its 2 s delay
    delay = 2
    victim = subprocess.Popen([sys.executable, __file__, 'victim', HOST, str(PORT), tag, str(delay)],
                              stdout=subprocess.PIPE, text=True)
    line = victim.stdout.readline()
    killed_at = time.time()
    victim.kill()
    victim.wait()
    early = watcher.wait(1, delay - 0.5)  # nothing before the delay
    early_payloads = [m['payload'] for m in early]
    msgs = watcher.wait(1, delay + 5)
    watcher.disconnect()
    out({'victim': line.strip(), 'early': early_payloads,
         'msgs': [{'topic': m['topic'], 'payload': m['payload'], 'after': round(m['t'] - killed_at, 3)} for m in msgs]})


def run_session():
    tag = ARGS[0]
    topic = 'pysess/' + tag
    sub = Client('pysess-' + tag)
    first = sub.connect(clean_start=True, session_expiry=60)
    granted = sub.subscribe(topic, qos=1)
    sub.disconnect()
    pub = Client('pysess-pub-' + tag)
    pub.connect()
    for i in range(3):
        pub.publish(topic, 'queued-%d' % i, qos=1)
    pub.disconnect()
    back = Client('pysess-' + tag)
    second = back.connect(clean_start=False, session_expiry=60)
    msgs = back.wait(3, 5)
    back.disconnect()
    # and a clean start throws the session away
    again = Client('pysess-' + tag)
    third = again.connect(clean_start=True, session_expiry=0)
    again.disconnect()
    out({'first': first, 'granted': granted, 'second': second, 'third': third,
         'msgs': [[m['payload'], m['qos']] for m in msgs]})


def run_alias():
    tag = ARGS[0]
    topic = 'pyalias/' + tag
    sub = Client('pyalias-sub-' + tag)
    sub.connect()
    sub.subscribe(topic, qos=1)
    pub = Client('pyalias-pub-' + tag)
    ack = pub.connect()
    ok = []
    # the first publish names the topic and sets alias 1, the next ones send only the alias
    p = Properties(PacketTypes.PUBLISH)
    p.TopicAlias = 1
    ok.append(pub.publish(topic, 'a0', qos=1, properties=p))
    for i in (1, 2):
        p = Properties(PacketTypes.PUBLISH)
        p.TopicAlias = 1
        ok.append(pub.publish('', 'a%d' % i, qos=1 if i == 1 else 0, properties=p))
    msgs = sub.wait(3, 5)
    pub_connected = pub.c.is_connected()
    pub.disconnect()
    sub.disconnect()
    out({'topicAliasMaximum': (ack['properties'] or {}).get('TopicAliasMaximum'), 'published': ok,
         'publisherStillConnected': pub_connected, 'msgs': [[m['topic'], m['payload']] for m in msgs]})


def run_aliasout():
    # A subscriber that allows topic aliases (paho 1.6 sends Topic Alias Maximum when asked, but does not resolve
    # the aliases it receives): every message must still arrive with its topic.
    tag = ARGS[0]
    topic = 'pyaliasout/' + tag
    sub = Client('pyaliasout-sub-' + tag)
    sub.connect(topic_alias_max=10)
    sub.subscribe(topic, qos=1)
    pub = Client('pyaliasout-pub-' + tag)
    pub.connect()
    for i in range(3):
        pub.publish(topic, 'o%d' % i, qos=1)
    msgs = sub.wait(3, 5)
    pub.disconnect()
    sub.disconnect()
    out({'msgs': [[m['topic'], m['payload']] for m in msgs]})


def run_retain():
    tag = ARGS[0]
    topic = 'pyret/' + tag
    pub = Client('pyret-pub-' + tag)
    pub.connect()
    pub.publish(topic, 'old', qos=1, retain=True)
    rh0 = Client('pyret-rh0-' + tag)
    rh0.connect()
    rh0.subscribe(topic, options=SubscribeOptions(qos=1, retainHandling=0))
    rh2 = Client('pyret-rh2-' + tag)
    rh2.connect()
    rh2.subscribe(topic, options=SubscribeOptions(qos=1, retainHandling=2))
    rh0.wait(1, 3)
    time.sleep(0.5)  # a retained message for rh2 would be here by now
    before_live = [[m['payload'], m['retain']] for m in rh2.msgs]
    pub.publish(topic, 'live', qos=1)
    rh2.wait(1, 5)
    rh0.wait(2, 5)
    pub.publish(topic, '', qos=1, retain=True)  # clear it
    for c in (pub, rh0, rh2):
        c.disconnect()
    out({'rh0': [[m['payload'], m['retain']] for m in rh0.msgs], 'rh2BeforeLive': before_live,
         'rh2': [[m['payload'], m['retain']] for m in rh2.msgs]})


def run_userprops():
    tag = ARGS[0]
    topic = 'pyprops/' + tag
    sub = Client('pyprops-sub-' + tag)
    sub.connect()
    sub.subscribe(topic, qos=1)
    pub = Client('pyprops-pub-' + tag)
    pub.connect()
    sent = [('a', '1'), ('b', 'two'), ('a', '3'), ('ünï', 'cödé ✓'), ('empty', '')]
    for q in (0, 1, 2):
        p = Properties(PacketTypes.PUBLISH)
        p.UserProperty = sent + [('qos', str(q))]
        pub.publish(topic, 'props%d' % q, qos=q, properties=p)
    msgs = sub.wait(3, 5)
    pub.disconnect()
    sub.disconnect()
    out({'sent': [list(x) for x in sent],
         'msgs': [{'payload': m['payload'], 'user': [list(x) for x in (m['properties'] or {}).get('UserProperty', [])]}
                  for m in msgs]})


def run_overlap():
    """MQTT 3.1.1 §3.3.5: a message matching several subscriptions of one client arrives once, at the highest QoS of
    them (a shared subscription's copy only when no other subscription matches), live and for a persistent session
    (clean_session=False) after it reconnects."""
    tag = ARGS[0]
    base = 'pyov/' + tag
    filters = [(base + '/#', 0), (base + '/a', 2), (base + '/+', 1), ('$share/g/' + base + '/+', 2), ('pyov-end/' + tag, 1)]
    pub = Client('pyov-pub-' + tag, version=mqtt.MQTTv311)
    pub.connect()
    res = {}
    for phase in ('live', 'queued'):
        sub = Client('pyov-' + tag, version=mqtt.MQTTv311, clean_session=False)
        sub.connect()
        if phase == 'live':
            rc, mid = sub.c.subscribe(filters)
            with sub.lock:
                sub.lock.wait_for(lambda: mid in sub.subacks, 5)
            res['granted'] = sub.subacks.get(mid)
            publish_all(pub, base, tag, phase)
        else:
            res['sessionPresent'] = sub.connack['flags'].get('session present')
        with sub.lock:
            sub.lock.wait_for(lambda: any(m['topic'].startswith('pyov-end/') for m in sub.msgs), 10)
        time.sleep(0.5)  # a second copy of anything would be here by now
        res[phase] = sorted([m['topic'][len(base):], m['payload'], m['qos']] for m in sub.msgs if not m['topic'].startswith('pyov-end/'))
        sub.disconnect()
        if phase == 'live':
            publish_all(pub, base, tag, 'queued')  # while the persistent session is offline
    pub.disconnect()
    out(res)


def run_suback():
    """The SUBACK of a SUBSCRIBE comes before the retained messages it brings (as mosquitto does): paho's callbacks
    run in the order its network loop reads the packets, so one list of events shows the order on the wire."""
    tag, version = ARGS[0], ARGS[1]
    v = mqtt.MQTTv5 if version == '5' else mqtt.MQTTv311
    base = 'pysuback/' + tag
    pub = Client('pysuback-pub-' + tag, version=v)
    pub.connect()
    for q in (0, 1, 2):
        pub.publish('%s/q%d' % (base, q), 'kept%d' % q, qos=q, retain=True)
    # a persistent 3.1.1 session: its outbound QoS 2 packet ids are stored before the PUBLISH leaves
    sub = Client('pysuback-sub-' + tag, version=v, clean_session=False if v == mqtt.MQTTv311 else None)
    events = []
    sub.c.on_subscribe = lambda c, u, mid, granted, properties=None: events.append(['suback', mid])
    sub.c.on_message = lambda c, u, m: events.append(['msg', m.payload.decode(), bool(m.retain)])
    sub.connect()
    mids = []
    for _ in range(2):  # a new subscription, then the same filter again (its retained messages are sent again)
        rc, mid = sub.c.subscribe(base + '/#', qos=2)
        mids.append(mid)
        deadline = time.time() + 10
        while time.time() < deadline and (['suback', mid] not in events or sum(1 for e in events if e[0] == 'msg') < 3 * len(mids)):
            time.sleep(0.05)
    seen = list(events)
    for q in (0, 1, 2):
        pub.publish('%s/q%d' % (base, q), '', qos=1, retain=True)
    sub.c.unsubscribe(base + '/#')
    sub.disconnect()
    pub.disconnect()
    out({'mids': mids, 'events': seen})


def publish_all(pub, base, tag, phase):
    pub.publish(base + '/a', phase + '-a2', qos=2)  # all three filters: QoS 2
    pub.publish(base + '/b', phase + '-b2', qos=2)  # '#' and '+': QoS 1
    pub.publish(base + '/c/d', phase + '-cd1', qos=1)  # '#' only: QoS 0
    pub.publish(base + '/a', phase + '-a0', qos=0)  # QoS 0 is what it is
    pub.publish('pyov-end/' + tag, 'end', qos=1)


{'overlap': run_overlap, 'ws': run_ws, 'connack': run_connack, 'shared': run_shared, 'will': run_will, 'victim': run_victim,
 'session': run_session, 'alias': run_alias, 'aliasout': run_aliasout, 'retain': run_retain, 'userprops': run_userprops, 'suback': run_suback}[scenario]()
