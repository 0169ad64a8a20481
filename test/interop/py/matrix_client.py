"""One side of the cross-protocol matrix (test/interop/matrix.test.ts) with Debian's Python clients.

  matrix_client.py send <proto> <port> < cases.json      send every case (a JSON list), print SENT
  matrix_client.py recv <proto> <port> < dests.json      subscribe to every destination (a JSON list of
                                                         {"id", "kind", "name"}), print READY, then one JSON
                                                         line per message received, then DONE

<proto>: stomp (stomp.py, STOMP 1.2), mqtt3 / mqtt5 (paho-mqtt), amqp (qpid-proton), sqs / sns (boto3).
A case: {"kind": "queue"|"topic", "name", "body": {"t": "text", "v"} | {"t": "bytes", "hex"} | {"t": "map", "v"} |
{"t": "list", "v"} | {"t": "empty"} | {"t": "big", "n"}, "props": [[name, type, value]], "contentType",
"correlationId", "type", "priority", "ttl" (ms), "durable", "replyTo": {"kind", "name"}}.
What a client cannot express is left out; the test knows which fields each sender carries.
"""
import json
import sys
import threading
import time

proto = sys.argv[2]
PORT = int(sys.argv[3])
HOST = '127.0.0.1'


def out(d):
    print(d if isinstance(d, str) else json.dumps(d), flush=True)


def big(n):
    return bytes(i % 251 for i in range(n))


def body_bytes(b):
    t = b['t']
    if t == 'text':
        return b['v'].encode('utf-8')
    if t == 'bytes':
        return bytes.fromhex(b['hex'])
    if t == 'big':
        return big(b['n'])
    if t in ('map', 'list'):
        return json.dumps(b['v']).encode('utf-8')
    return b''


def is_text(b):
    return b['t'] in ('text', 'map', 'list')


def mqtt_topic(name):
    return name.replace('.', '/')


def jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return {'binary': bytes(v).hex()}
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (int, float, bool)) or v is None:
        return v
    return str(v)


def body_out(kind, raw):
    """What the receiving client saw: its own idea of text vs binary, and the bytes."""
    return {'bodyKind': kind, 'hex': raw.hex(), 'size': len(raw)}


# ---------------------------------------------------------------- STOMP

STOMP_STD = {'destination', 'message-id', 'subscription', 'ack', 'redelivered', 'expires', 'priority', 'timestamp',
             'persistent', 'reply-to', 'correlation-id', 'type', 'content-type', 'content-length'}


def stomp_escape(s):
    return s.replace('\\', '\\\\').replace('\n', '\\n').replace(':', '\\c').replace('\r', '\\r')


def stomp_dest(kind, name):
    return '/%s/%s' % (kind, name)


def stomp_conn():
    import stomp
    c = stomp.Connection12([(HOST, PORT)], auto_decode=False, heartbeats=(0, 0))
    return c


def stomp_send(cases):
    import stomp

    c = stomp_conn()
    c.connect(wait=True)
    for case in cases:
        b = case['body']
        h = {'persistent': 'true' if case.get('durable', True) else 'false'}
        if b['t'] in ('text', 'bytes', 'big') and 'contentType' not in case:
            # ActiveMQ's header: without it (or a content-type) a frame with content-length (stomp.py always
            # sends one) is bytes; with a content-type, as most STOMP clients send, that decides
            h['amq-msg-type'] = 'text' if b['t'] == 'text' else 'bytes'
        if 'priority' in case:
            h['priority'] = str(case['priority'])
        if 'ttl' in case:
            h['expires'] = str(int(time.time() * 1000) + case['ttl'])
        if 'correlationId' in case:
            h['correlation-id'] = case['correlationId']
        if 'type' in case:
            h['type'] = case['type']
        if 'replyTo' in case:
            h['reply-to'] = stomp_dest(case['replyTo']['kind'], case['replyTo']['name'])
        if 'contentType' in case:
            h['content-type'] = case['contentType']
        for name, _t, v in case.get('props', []):
            # stomp.py 8 writes header names and values unescaped: STOMP 1.2 escaping is ours to do
            h[stomp_escape(name)] = stomp_escape(str(v).lower() if isinstance(v, bool) else str(v))
        receipt = 'r-' + case['name']
        h['receipt'] = receipt
        c.send(stomp_dest(case['kind'], case['name']), body_bytes(b), headers=h)
    c.disconnect(receipt='bye')


def stomp_recv(dests):
    import stomp

    got = []
    done = threading.Event()

    want = sum(d.get('count', 1) for d in dests)

    class L(stomp.ConnectionListener):
        def on_message(self, frame):
            got.append(frame)
            if len(got) >= want:
                done.set()

    c = stomp_conn()
    c.set_listener('l', L())
    c.connect(wait=True)
    for i, d in enumerate(dests):
        c.subscribe(stomp_dest(d['kind'], d['name']), id=d['id'], ack='auto', headers={'receipt': 'sub-%d' % i})
    time.sleep(0.3)  # the SUBSCRIBE receipts are asynchronous in stomp.py; READY only after they were sent
    out('READY')
    done.wait(60)
    for f in got:
        h = f.headers
        raw = f.body if isinstance(f.body, bytes) else (f.body or '').encode('utf-8')
        o = {'dest': h.get('subscription')}
        o.update(body_out('empty' if len(raw) == 0 else 'bytes', raw))
        o['props'] = {k: ['string', v] for k, v in h.items() if k not in STOMP_STD}
        o['contentType'] = h.get('content-type')
        o['correlationId'] = h.get('correlation-id')
        o['type'] = h.get('type')
        o['replyTo'] = h.get('reply-to')
        o['priority'] = int(h['priority']) if 'priority' in h else None
        o['expiration'] = int(h['expires']) if h.get('expires', '0') != '0' else 0
        o['durable'] = h.get('persistent') == 'true'
        o['messageId'] = h.get('message-id')
        o['redelivered'] = h.get('redelivered') == 'true'
        out(o)
    c.disconnect()


# ---------------------------------------------------------------- MQTT

def mqtt_client(v5):
    import paho.mqtt.client as mqtt
    c = mqtt.Client(client_id='mx-%s-%d' % ('v5' if v5 else 'v3', time.time_ns() % 10**9), protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
    return c


def mqtt_send(cases, v5):
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    c = mqtt_client(v5)
    c.connect(HOST, PORT)
    c.loop_start()
    for case in cases:
        b = case['body']
        props = None
        if v5:
            props = Properties(PacketTypes.PUBLISH)
            if is_text(b):
                props.PayloadFormatIndicator = 1
            if 'contentType' in case:
                props.ContentType = case['contentType']
            if 'correlationId' in case:
                props.CorrelationData = case['correlationId'].encode('utf-8')
            if 'replyTo' in case and case['replyTo']['kind'] == 'topic':
                props.ResponseTopic = mqtt_topic(case['replyTo']['name'])
            if 'ttl' in case:
                props.MessageExpiryInterval = max(1, case['ttl'] // 1000)
            ups = [(n, (str(v).lower() if isinstance(v, bool) else str(v))) for n, t, v in case.get('props', [])]
            if ups:
                props.UserProperty = ups
        info = c.publish(mqtt_topic(case['name']), body_bytes(b), qos=1 if case.get('durable', True) else 0, properties=props)
        info.wait_for_publish(30)
    c.disconnect()
    c.loop_stop()


def mqtt_recv(dests, v5):
    got = []
    done = threading.Event()
    subs = threading.Event()
    by_topic = {mqtt_topic(d['name']): d['id'] for d in dests}
    c = mqtt_client(v5)
    pending = [len(dests)]

    def on_message(_c, _u, m):
        got.append(m)
        if len(got) >= len(dests):
            done.set()

    def on_subscribe(*_a):
        pending[0] -= 1
        if pending[0] == 0:
            subs.set()

    c.on_message = on_message
    c.on_subscribe = on_subscribe
    c.connect(HOST, PORT)
    c.loop_start()
    for t in by_topic:
        c.subscribe(t, qos=1)
    subs.wait(30)
    out('READY')
    done.wait(60)
    for m in got:
        p = getattr(m, 'properties', None)
        pd = {}
        if p is not None:
            for name in p.names:
                attr = name.replace(' ', '')
                if hasattr(p, attr):
                    pd[attr] = getattr(p, attr)
        raw = bytes(m.payload)
        did = by_topic.get(m.topic)
        if did is None:  # a wildcard filter
            import paho.mqtt.client as mqtt
            did = next((i for f, i in by_topic.items() if mqtt.topic_matches_sub(f, m.topic)), m.topic)
        o = {'dest': did, 'topic': m.topic}
        o.update(body_out('empty' if len(raw) == 0 else 'text' if pd.get('PayloadFormatIndicator') == 1 else 'bytes', raw))
        o['props'] = {n: ['string', v] for n, v in pd.get('UserProperty', [])}
        o['contentType'] = pd.get('ContentType')
        cd = pd.get('CorrelationData')
        o['correlationId'] = cd.decode('utf-8', 'replace') if cd is not None else None
        o['replyTo'] = pd.get('ResponseTopic')
        o['ttl'] = pd.get('MessageExpiryInterval', 0) * 1000
        o['durable'] = m.qos > 0
        o['redelivered'] = bool(m.dup)
        out(o)
    c.disconnect()
    c.loop_stop()


# ---------------------------------------------------------------- AMQP 1.0

def amqp_addr(kind, name):
    return name if kind == 'queue' else 'topic://' + name


def amqp_props(props):
    from proton import byte, short, float32, int32, char
    conv = {'string': str, 'int': int32, 'long': int, 'double': float, 'bool': bool, 'binary': bytes.fromhex,
            'byte': byte, 'short': short, 'float': float32, 'char': char}
    return {n: conv[t](v) for n, t, v in props}


def amqp_send(cases):
    from proton import Message
    from proton.handlers import MessagingHandler
    from proton.reactor import Container

    class S(MessagingHandler):
        def __init__(self):
            super().__init__()
            self.left = len(cases)
            self.error = None

        def on_start(self, e):
            conn = e.container.connect('amqp://%s:%d' % (HOST, PORT), reconnect=False)
            self.sender = e.container.create_sender(conn, None)  # anonymous relay: `to` names each destination

        def on_sendable(self, e):
            if getattr(self, 'sent', False):
                return
            self.sent = True
            for case in cases:
                b = case['body']
                m = Message()
                m.address = amqp_addr(case['kind'], case['name'])
                t = b['t']
                if t == 'text':
                    m.body = b['v']
                elif t in ('bytes', 'big'):
                    m.body = body_bytes(b)
                    m.inferred = True  # one data section, as Qpid JMS sends a BytesMessage
                elif t == 'map':
                    types = b.get('types', {})
                    from proton import float32
                    conv = {'binary': bytes.fromhex, 'float': lambda x: float32(x), 'double': float}
                    m.body = {k: conv[types[k]](v) if k in types else v for k, v in b['v'].items()}
                elif t == 'list':
                    types = b.get('types', [])
                    m.body = [bytes.fromhex(v) if i < len(types) and types[i] == 'binary' else v for i, v in enumerate(b['v'])]
                else:
                    m.body = None
                m.durable = case.get('durable', True)
                if 'priority' in case:
                    m.priority = case['priority']
                if 'ttl' in case:
                    m.ttl = case['ttl'] / 1000.0
                if 'correlationId' in case:
                    m.correlation_id = case['correlationId']
                if 'type' in case:
                    m.subject = case['type']
                if 'contentType' in case:
                    m.content_type = case['contentType']
                if 'replyTo' in case:
                    m.reply_to = amqp_addr(case['replyTo']['kind'], case['replyTo']['name'])
                m.properties = amqp_props(case.get('props', []))
                self.sender.send(m)

        def on_accepted(self, e):
            self.left -= 1
            if self.left == 0:
                e.connection.close()

        def on_rejected(self, e):
            self.error = 'rejected: %s' % e.delivery.remote.condition
            e.connection.close()

    h = S()
    Container(h).run()
    if h.error:
        raise SystemExit(h.error)


def amqp_recv(dests):
    from proton.handlers import MessagingHandler
    from proton.reactor import Container

    class R(MessagingHandler):
        def __init__(self):
            super().__init__()
            self.got = []
            self.links = {}
            self.opened = 0

        def on_start(self, e):
            self.conn = e.container.connect('amqp://%s:%d' % (HOST, PORT), reconnect=False)
            for d in dests:
                r = e.container.create_receiver(self.conn, amqp_addr(d['kind'], d['name']))
                self.links[r.name] = d['id']
            self.timer = e.container.schedule(60, self)

        def on_link_opened(self, e):
            if e.receiver:
                self.opened += 1
                if self.opened == len(dests):
                    out('READY')

        def on_timer_task(self, e):
            self.conn.close()

        def on_message(self, e):
            m = e.message
            b = m.body
            if isinstance(b, str):
                kind, raw = 'text', b.encode('utf-8')
            elif isinstance(b, (bytes, bytearray)):
                kind, raw = 'bytes', bytes(b)
            elif isinstance(b, dict):
                kind, raw = 'map', b''
            elif isinstance(b, list):
                kind, raw = 'list', b''
            elif b is None:
                kind, raw = 'empty', b''
            else:
                kind, raw = type(b).__name__, str(b).encode()
            o = {'dest': self.links[e.link.name]}
            o.update(body_out(kind, raw))
            if kind in ('map', 'list'):
                o['value'] = jsonable(b)
                o['valueTypes'] = {str(k): type(x).__name__ for k, x in b.items()} if kind == 'map' else [type(x).__name__ for x in b]
            o['props'] = {str(k): [type(v).__name__, jsonable(v)] for k, v in (m.properties or {}).items()}
            o['contentType'] = str(m.content_type) if m.content_type else None
            o['correlationId'] = jsonable(m.correlation_id)
            o['type'] = m.subject
            o['replyTo'] = m.reply_to
            o['priority'] = m.priority
            o['ttl'] = int(round(m.ttl * 1000)) if m.ttl else 0
            o['expiration'] = int(m.expiry_time * 1000) if m.expiry_time else 0
            o['durable'] = bool(m.durable)
            o['messageId'] = jsonable(m.id)
            o['redelivered'] = m.delivery_count > 0
            o['annotations'] = jsonable(m.annotations or {})
            out(o)
            self.got.append(o)
            if len(self.got) >= len(dests):
                self.timer.cancel()
                e.connection.close()

    Container(R()).run()


# ---------------------------------------------------------------- SQS / SNS

def aws(service):
    import boto3
    return boto3.client(service, endpoint_url='http://%s:%d' % (HOST, PORT), region_name='us-east-1',
                        aws_access_key_id='AKIDWHARFTEST', aws_secret_access_key='wharf-test-secret')


def sqs_attrs(props):
    a = {}
    for n, t, v in props:
        if t == 'binary':
            a[n] = {'DataType': 'Binary', 'BinaryValue': bytes.fromhex(v)}
        elif t in ('int', 'long', 'double', 'float', 'short', 'byte'):
            a[n] = {'DataType': 'Number', 'StringValue': str(v)}
        else:
            a[n] = {'DataType': 'String', 'StringValue': str(v).lower() if isinstance(v, bool) else str(v)}
    return a


def sqs_send(cases):
    sqs = aws('sqs')
    for case in cases:
        url = sqs.create_queue(QueueName=case['name'])['QueueUrl']
        kw = {'QueueUrl': url, 'MessageBody': body_bytes(case['body']).decode('utf-8')}
        attrs = sqs_attrs(case.get('props', []))
        if attrs:
            kw['MessageAttributes'] = attrs
        sqs.send_message(**kw)


def sns_send(cases):
    sns = aws('sns')
    for case in cases:
        arn = sns.create_topic(Name=case['name'])['TopicArn']
        kw = {'TopicArn': arn, 'Message': body_bytes(case['body']).decode('utf-8')}
        attrs = sqs_attrs(case.get('props', []))
        if attrs:
            kw['MessageAttributes'] = attrs
        sns.publish(**kw)


def sqs_recv(dests):
    sqs = aws('sqs')
    urls = {d['id']: sqs.create_queue(QueueName=d['name'])['QueueUrl'] for d in dests}
    out('READY')
    deadline = time.time() + 60
    for did, url in urls.items():
        msgs = []
        while not msgs and time.time() < deadline:
            msgs = sqs.receive_message(QueueUrl=url, MessageAttributeNames=['All'], AttributeNames=['All'], WaitTimeSeconds=2).get('Messages', [])
        for m in msgs:
            raw = m['Body'].encode('utf-8')
            o = {'dest': did}
            o.update(body_out('empty' if not raw else 'text', raw))
            props = {}
            for n, a in m.get('MessageAttributes', {}).items():
                if a['DataType'].startswith('Binary'):
                    props[n] = [a['DataType'], a['BinaryValue'].hex()]
                else:
                    props[n] = [a['DataType'], a['StringValue']]
            o['props'] = props
            o['messageId'] = m['MessageId']
            o['redelivered'] = int(m['Attributes'].get('ApproximateReceiveCount', '1')) > 1
            out(o)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m['ReceiptHandle'])


# ---------------------------------------------------------------- request / reply
# request: {"kind", "name", "reply": "temp"|"topic", "replyName"}: listen for the reply (on a temporary queue, or a
# topic), send the request with reply-to in this protocol's own syntax, print the reply as JSON.
# respond: {"kind", "name"}: print READY, take one request, print what its reply-to looked like, send a reply to it
# (in this protocol's own syntax, as the client got it) with the request's correlation id.

def stomp_request(a):
    import stomp
    got = threading.Event()
    reply = {}

    class L(stomp.ConnectionListener):
        def on_message(self, f):
            reply.update({'body': f.body.decode('utf-8'), 'correlationId': f.headers.get('correlation-id'), 'destination': f.headers.get('destination')})
            got.set()

    c = stomp_conn()
    c.set_listener('l', L())
    c.connect(wait=True)
    rt = {'temp': '/temp-queue/replies', 'temp-topic': '/temp-topic/replies'}.get(a['reply'], '/topic/' + a['replyName'])
    c.subscribe(rt, id='r', ack='auto')
    c.send(stomp_dest(a['kind'], a['name']), b'request', headers={'reply-to': rt, 'correlation-id': 'req-1', 'receipt': 'x'})
    got.wait(30)
    out(reply)
    c.disconnect()


def stomp_respond(a):
    import stomp
    got = threading.Event()
    req = []

    class L(stomp.ConnectionListener):
        def on_message(self, f):
            req.append(f)
            got.set()

    c = stomp_conn()
    c.set_listener('l', L())
    c.connect(wait=True)
    c.subscribe(stomp_dest(a['kind'], a['name']), id='s', ack='auto', headers={'receipt': 'sub'})
    time.sleep(0.3)
    out('READY')
    got.wait(30)
    f = req[0]
    rt = f.headers.get('reply-to')
    out({'replyTo': rt})
    c.send(rt, b'reply from stomp', headers={'correlation-id': f.headers.get('correlation-id', ''), 'receipt': 'done'})
    c.disconnect(receipt='bye')


def mqtt_request(a):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    got = threading.Event()
    subd = threading.Event()
    reply = {}
    c = mqtt_client(True)

    def on_message(_c, _u, m):
        cd = getattr(m.properties, 'CorrelationData', None)
        reply.update({'body': m.payload.decode('utf-8'), 'correlationId': cd.decode('utf-8') if cd else None, 'destination': m.topic})
        got.set()

    c.on_message = on_message
    c.on_subscribe = lambda *_a: subd.set()
    c.connect(HOST, PORT)
    c.loop_start()
    rt = mqtt_topic(a['replyName'])
    c.subscribe(rt, qos=1)
    subd.wait(10)
    p = Properties(PacketTypes.PUBLISH)
    p.ResponseTopic = rt
    p.CorrelationData = b'req-1'
    c.publish(mqtt_topic(a['name']), b'request', qos=1, properties=p).wait_for_publish(10)
    got.wait(30)
    out(reply)
    c.disconnect()
    c.loop_stop()


def mqtt_respond(a):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    got = threading.Event()
    subd = threading.Event()
    req = []
    c = mqtt_client(True)
    c.on_message = lambda _c, _u, m: (req.append(m), got.set())
    c.on_subscribe = lambda *_a: subd.set()
    c.connect(HOST, PORT)
    c.loop_start()
    c.subscribe(mqtt_topic(a['name']), qos=1)
    subd.wait(10)
    out('READY')
    got.wait(30)
    m = req[0]
    rt = getattr(m.properties, 'ResponseTopic', None)
    out({'replyTo': rt})
    p = Properties(PacketTypes.PUBLISH)
    cd = getattr(m.properties, 'CorrelationData', None)
    if cd:
        p.CorrelationData = cd
    c.publish(rt, b'reply from mqtt5', qos=1, properties=p).wait_for_publish(10)
    c.disconnect()
    c.loop_stop()


def amqp_request(a):
    from proton import Message
    from proton.handlers import MessagingHandler
    from proton.reactor import Container, DynamicNodeProperties

    class Q(MessagingHandler):
        def __init__(self):
            super().__init__()
            self.reply = {}

        def on_start(self, e):
            self.conn = e.container.connect('amqp://%s:%d' % (HOST, PORT), reconnect=False)
            if a['reply'] == 'temp':
                self.rx = e.container.create_receiver(self.conn, None, dynamic=True)
            else:
                self.rx = e.container.create_receiver(self.conn, 'topic://' + a['replyName'])
            self.tx = e.container.create_sender(self.conn, amqp_addr(a['kind'], a['name']))
            self.timer = e.container.schedule(30, self)

        def on_link_opened(self, e):
            if e.receiver == self.rx:
                self.reply_to = self.rx.remote_source.address
                self.tx.send(Message(body='request', reply_to=self.reply_to, correlation_id='req-1'))

        def on_timer_task(self, e):
            self.conn.close()

        def on_message(self, e):
            m = e.message
            self.reply = {'body': m.body if isinstance(m.body, str) else bytes(m.body).decode('utf-8'), 'correlationId': m.correlation_id, 'destination': m.address, 'replyToSent': self.reply_to}
            self.timer.cancel()
            e.connection.close()

    q = Q()
    Container(q).run()
    out(q.reply)


def amqp_respond(a):
    from proton import Message
    from proton.handlers import MessagingHandler
    from proton.reactor import Container

    class R(MessagingHandler):
        def on_start(self, e):
            self.conn = e.container.connect('amqp://%s:%d' % (HOST, PORT), reconnect=False)
            e.container.create_receiver(self.conn, amqp_addr(a['kind'], a['name']))
            self.tx = e.container.create_sender(self.conn, None)

        def on_link_opened(self, e):
            if e.receiver:
                out('READY')

        def on_message(self, e):
            m = e.message
            out({'replyTo': m.reply_to})
            self.tx.send(Message(address=m.reply_to, body='reply from amqp', correlation_id=m.correlation_id))

        def on_accepted(self, e):
            e.connection.close()

        def on_rejected(self, e):
            out({'rejected': str(e.delivery.remote.condition)})
            e.connection.close()

    Container(R()).run()


# ---------------------------------------------------------------- abandon: take one message, never settle it, go away
# {"kind", "name"}: prints the body as JSON once the message arrived, then disconnects without acknowledging it.

def stomp_abandon(a):
    import stomp
    got = threading.Event()
    seen = []

    class L(stomp.ConnectionListener):
        def on_message(self, f):
            seen.append(f.body)
            got.set()

    c = stomp_conn()
    c.set_listener('l', L())
    c.connect(wait=True)
    c.subscribe(stomp_dest(a['kind'], a['name']), id='s', ack='client-individual')
    got.wait(30)
    out({'hex': seen[0].hex() if seen else None})
    c.disconnect()


def amqp_abandon(a):
    from proton.handlers import MessagingHandler
    from proton.reactor import Container

    class R(MessagingHandler):
        def __init__(self):
            super().__init__(prefetch=1, auto_accept=False)
            self.seen = None

        def on_start(self, e):
            self.conn = e.container.connect('amqp://%s:%d' % (HOST, PORT), reconnect=False)
            e.container.create_receiver(self.conn, amqp_addr(a['kind'], a['name']))
            self.timer = e.container.schedule(30, self)

        def on_timer_task(self, e):
            self.conn.close()

        def on_message(self, e):
            b = e.message.body
            self.seen = (b.encode('utf-8') if isinstance(b, str) else bytes(b)).hex()
            self.timer.cancel()
            e.connection.close()

    r = R()
    Container(r).run()
    out({'hex': r.seen})


def sqs_abandon(a):
    sqs = aws('sqs')
    url = sqs.create_queue(QueueName=a['name'])['QueueUrl']
    msgs = []
    deadline = time.time() + 30
    while not msgs and time.time() < deadline:
        # visibility 0: the receive counts and the message is visible again at once
        msgs = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, VisibilityTimeout=0).get('Messages', [])
    out({'hex': msgs[0]['Body'].encode('utf-8').hex() if msgs else None})


# ---------------------------------------------------------------- forward: {"from": {"kind", "name"}, "to": {...}}
# takes one message and sends that same message object on (prints READY once the receiver is attached)

def amqp_forward(a):
    from proton.handlers import MessagingHandler
    from proton.reactor import Container

    class F(MessagingHandler):
        def on_start(self, e):
            self.conn = e.container.connect('amqp://%s:%d' % (HOST, PORT), reconnect=False)
            e.container.create_receiver(self.conn, amqp_addr(a['from']['kind'], a['from']['name']))
            self.tx = e.container.create_sender(self.conn, amqp_addr(a['to']['kind'], a['to']['name']))

        def on_link_opened(self, e):
            if e.receiver:
                out('READY')

        def on_message(self, e):
            m = e.message
            m.address = None
            self.tx.send(m)

        def on_accepted(self, e):
            e.connection.close()

    Container(F()).run()


def main():
    mode = sys.argv[1]
    data = json.load(sys.stdin)
    if mode == 'send':
        {'stomp': stomp_send, 'mqtt3': lambda c: mqtt_send(c, False), 'mqtt5': lambda c: mqtt_send(c, True),
         'amqp': amqp_send, 'sqs': sqs_send, 'sns': sns_send}[proto](data)
        out('SENT')
    elif mode == 'request':
        {'stomp': stomp_request, 'mqtt5': mqtt_request, 'amqp': amqp_request}[proto](data)
    elif mode == 'forward':
        amqp_forward(data)
        out('DONE')
    elif mode == 'abandon':
        {'stomp': stomp_abandon, 'amqp': amqp_abandon, 'sqs': sqs_abandon}[proto](data)
    elif mode == 'respond':
        {'stomp': stomp_respond, 'mqtt5': mqtt_respond, 'amqp': amqp_respond}[proto](data)
        out('DONE')
    else:
        {'stomp': stomp_recv, 'mqtt3': lambda d: mqtt_recv(d, False), 'mqtt5': lambda d: mqtt_recv(d, True),
         'amqp': amqp_recv, 'sqs': sqs_recv}[proto](data)
        out('DONE')


main()
