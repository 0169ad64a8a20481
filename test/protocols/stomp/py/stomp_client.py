"""
stomp.py (Debian python3-stomp, stomp.py 8) driven against a Wharf broker by test/protocols/stomp/interop.test.ts.

    /usr/bin/python3 stomp_client.py <scenario> <port> <version 1.0|1.1|1.2>

Each scenario prints one JSON object on its last stdout line; the mocha test asserts on it. Failures inside a
scenario print {"error": "<traceback>"} (exit status 1). Credentials are py/secret (the test installs a
security hook that accepts only those).
"""
import json
import sys
import threading
import time
import traceback

import stomp

PORT = int(sys.argv[2])
VERSION = sys.argv[3]
TIMEOUT = 5.0


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.cv = threading.Condition()
        self.messages = []
        self.receipts = []
        self.errors = []
        self.beats = 0
        self.connected_headers = None
        self.disconnected = False

    def _add(self, name, item):
        with self.cv:
            getattr(self, name).append(item)
            self.cv.notify_all()

    def on_connected(self, frame):
        with self.cv:
            self.connected_headers = dict(frame.headers)
            self.cv.notify_all()

    def on_message(self, frame):
        self._add('messages', frame)

    def on_receipt(self, frame):
        self._add('receipts', frame.headers.get('receipt-id'))

    def on_error(self, frame):
        body = frame.body.decode('utf-8', 'replace') if isinstance(frame.body, bytes) else frame.body
        self._add('errors', {'headers': dict(frame.headers), 'body': body})

    def on_heartbeat(self):
        with self.cv:
            self.beats += 1

    def on_disconnected(self):
        with self.cv:
            self.disconnected = True
            self.cv.notify_all()

    def wait(self, pred, what, timeout=TIMEOUT):
        with self.cv:
            if not self.cv.wait_for(pred, timeout):
                raise RuntimeError('timed out waiting for ' + what + '; errors: ' + json.dumps(self.errors))

    def receipt(self, rid):
        self.wait(lambda: rid in self.receipts, 'RECEIPT ' + rid)

    def take(self, n, what='messages', timeout=TIMEOUT):
        """Wait for n messages beyond those already taken; returns them (and marks them taken)."""
        start = getattr(self, '_taken', 0)
        self.wait(lambda: len(self.messages) >= start + n, '%d %s' % (n, what), timeout)
        self._taken = start + n
        return self.messages[start:start + n]

    def none(self, ms=400):
        """True if no message beyond those taken arrives within ms."""
        time.sleep(ms / 1000.0)
        return len(self.messages) == getattr(self, '_taken', 0)


CLASSES = {'1.0': stomp.Connection10, '1.1': stomp.Connection11, '1.2': stomp.Connection12}
_rid = [0]


def rid(tag):
    _rid[0] += 1
    return '%s-%d' % (tag, _rid[0])


def new_connection(heartbeats=None, auto_decode=True):
    kw = {'auto_decode': auto_decode, 'reconnect_attempts_max': 1}
    if heartbeats is not None:
        kw['heartbeats'] = heartbeats
    c = CLASSES[VERSION]([('127.0.0.1', PORT)], **kw)
    listener = Listener()
    c.set_listener('t', listener)
    return c, listener


def connect(user='py', passcode='secret', heartbeats=None, auto_decode=True):
    c, listener = new_connection(heartbeats, auto_decode)
    c.connect(user, passcode, wait=True)
    # wait=True returns once the transport saw CONNECTED, possibly before listeners were told
    listener.wait(lambda: listener.connected_headers is not None, 'on_connected')
    return c, listener


def subscribe(c, listener, dest, sub_id, ack='auto'):
    r = rid('sub')
    c.subscribe(dest, id=sub_id, ack=ack, headers={'receipt': r})
    listener.receipt(r)


def send(c, listener, dest, body, **kw):
    r = rid('send')
    headers = dict(kw.pop('headers', {}))
    headers['receipt'] = r
    c.send(dest, body, headers=headers, **kw)
    listener.receipt(r)


def body_text(f):
    return f.body.decode('utf-8') if isinstance(f.body, bytes) else f.body


def msg(f):
    return {'headers': dict(f.headers), 'body': body_text(f)}


def ack(c, listener, f, positive=True, transaction=None):
    """ACK/NACK the way each version wants it: 1.2 the MESSAGE's `ack` header as `id`; 1.1 message-id +
    subscription; 1.0 message-id (1.0 has no NACK)."""
    r = rid('ack' if positive else 'nack')
    h = f.headers
    if VERSION == '1.2':
        (c.ack if positive else c.nack)(h['ack'], transaction=transaction, receipt=r)
    elif VERSION == '1.1':
        (c.ack if positive else c.nack)(h['message-id'], h['subscription'], transaction=transaction, receipt=r)
    else:
        assert positive, 'STOMP 1.0 has no NACK'
        c.ack(h['message-id'], transaction=transaction, receipt=r)
    listener.receipt(r)


def close(c, listener=None):
    """DISCONNECT (stomp.py adds a receipt and closes the socket when it arrives). With the listener, wait
    for that and return True if the DISCONNECT's RECEIPT arrived."""
    if not c.is_connected():
        return False
    before = len(listener.receipts) if listener else 0
    c.disconnect()
    if listener is None:
        return None
    listener.wait(lambda: listener.disconnected, 'disconnect')
    return len(listener.receipts) == before + 1


# ------------------------------------------------------------------------------------------- scenarios

def scenario_basic():
    out = {}
    bad, bl = new_connection()
    try:
        bad.connect('py', 'wrong', wait=True)
        out['badLogin'] = {'connected': True}
        close(bad)
    except stomp.exception.ConnectFailedException:
        out['badLogin'] = {'connected': False, 'errors': bl.errors}
    c, l = connect()
    out['connected'] = l.connected_headers
    subscribe(c, l, '/queue/x', 'sub-x')
    for i in range(3):
        send(c, l, '/queue/x', 'hello %s #%d' % (VERSION, i))
    out['messages'] = [msg(f) for f in l.take(3)]
    out['receipts'] = list(l.receipts)
    if VERSION == '1.0':
        # 1.0 SUBSCRIBE/UNSUBSCRIBE without id: the destination names the subscription
        r = rid('sub')
        c.subscribe('/queue/x.noid', headers={'receipt': r})
        l.receipt(r)
        send(c, l, '/queue/x.noid', 'no id')
        out['noId'] = msg(l.take(1)[0])
        r = rid('unsub')
        c.unsubscribe(destination='/queue/x.noid', headers={'receipt': r})
        l.receipt(r)
        send(c, l, '/queue/x.noid', 'after unsubscribe')
        out['noIdAfter'] = l.none()
    out['disconnectReceipt'] = close(c, l)
    out['errors'] = l.errors
    return out


def scenario_ack():
    out = {}
    c, l = connect()
    for b in ('m1', 'm2', 'm3'):
        send(c, l, '/queue/py.ack', b, headers={'persistent': 'true'})
    subscribe(c, l, '/queue/py.ack', 'acks', ack='client-individual')
    got = l.take(3)
    out['first'] = [msg(f) for f in got]
    ack(c, l, got[0])
    ack(c, l, got[2])
    if VERSION != '1.0':
        ack(c, l, got[1], positive=False)  # maxRedeliveries 1: redelivered once ...
        again = l.take(1, 'redelivery')[0]
        out['redelivered'] = msg(again)
        ack(c, l, again, positive=False)  # ... then dead-lettered
        subscribe(c, l, '/queue/DLQ.py.ack', 'dlq')
        out['dlq'] = msg(l.take(1, 'DLQ message')[0])
    out['errors'] = list(l.errors)
    close(c)
    # unacknowledged messages come back to the next subscriber; acknowledged ones do not
    c, l = connect()
    subscribe(c, l, '/queue/py.ack', 'acks2', ack='client-individual')
    if VERSION == '1.0':
        back = l.take(1, 'unacked m2')[0]
        out['redelivered'] = msg(back)
        ack(c, l, back)
    out['leftover'] = l.none()
    # ack=client is cumulative: acking n2 acknowledges n1 and n2, n3 comes back after a reconnect
    for b in ('n1', 'n2', 'n3'):
        send(c, l, '/queue/py.cumulative', b)
    subscribe(c, l, '/queue/py.cumulative', 'cum', ack='client')
    got = l.take(3)
    ack(c, l, got[1])
    out['errors'] += l.errors
    close(c)
    c, l = connect()
    subscribe(c, l, '/queue/py.cumulative', 'cum2', ack='client')
    out['cumulative'] = [msg(f) for f in l.take(1, 'n3')]
    ack(c, l, l.messages[0])
    out['cumulativeLeftover'] = l.none()
    out['errors'] += l.errors
    close(c)
    return out


def scenario_tx():
    out = {}
    sub, sl = connect()
    subscribe(sub, sl, '/queue/py.tx', 'tx')
    c, l = connect()
    r = rid('begin')
    c.begin('t1', headers={'receipt': r})
    l.receipt(r)
    send(c, l, '/queue/py.tx', 'a1', transaction='t1')
    send(c, l, '/queue/py.tx', 'a2', headers={'transaction': 't1'})
    out['beforeCommit'] = sl.none()
    r = rid('commit')
    c.commit('t1', headers={'receipt': r})
    l.receipt(r)
    out['committed'] = [body_text(f) for f in sl.take(2)]
    r = rid('begin')
    c.begin('t2', headers={'receipt': r})
    l.receipt(r)
    send(c, l, '/queue/py.tx', 'b1', transaction='t2')
    r = rid('abort')
    c.abort('t2', headers={'receipt': r})
    l.receipt(r)
    out['afterAbort'] = sl.none()
    send(c, l, '/queue/py.tx', 'c1')
    out['after'] = [body_text(f) for f in sl.take(1)]
    # an ACK inside a transaction takes effect on COMMIT
    send(c, l, '/queue/py.txack', 'k1')
    subscribe(c, l, '/queue/py.txack', 'txack', ack='client-individual')
    k = l.take(1)[0]
    r = rid('begin')
    c.begin('t3', headers={'receipt': r})
    l.receipt(r)
    ack(c, l, k, transaction='t3')
    r = rid('commit')
    c.commit('t3', headers={'receipt': r})
    l.receipt(r)
    # ABORT undoes an ACK made in the transaction: the message stays delivered and unacknowledged (not
    # redelivered), and its own ack id acknowledges it afterwards, as on RabbitMQ and ActiveMQ
    send(c, l, '/queue/py.txack', 'k2')
    k2 = l.take(1)[0]
    r = rid('begin')
    c.begin('t4', headers={'receipt': r})
    l.receipt(r)
    ack(c, l, k2, transaction='t4')
    r = rid('abort')
    c.abort('t4', headers={'receipt': r})
    l.receipt(r)
    out['abortedAckRedelivered'] = not l.none()
    ack(c, l, k2)
    if VERSION != '1.0':
        # a NACK in an aborted transaction is undone the same way
        send(c, l, '/queue/py.txack', 'k3')
        k3 = l.take(1)[0]
        r = rid('begin')
        c.begin('t5', headers={'receipt': r})
        l.receipt(r)
        ack(c, l, k3, positive=False, transaction='t5')
        r = rid('abort')
        c.abort('t5', headers={'receipt': r})
        l.receipt(r)
        out['abortedNackRedelivered'] = not l.none()
        ack(c, l, k3)
    out['errors'] = l.errors + sl.errors
    close(c)
    close(sub)
    c, l = connect()
    subscribe(c, l, '/queue/py.txack', 'txack2', ack='client-individual')
    out['txAckLeftover'] = l.none()
    close(c)
    return out


def scenario_heartbeat():
    out = {}
    c, l = connect(heartbeats=(1000, 1000))
    out['connected'] = l.connected_headers
    out['negotiated'] = list(c.heartbeats)
    time.sleep(4.5)
    out['beats'] = l.beats
    out['stillConnected'] = c.is_connected()
    out['disconnectedEarly'] = l.disconnected
    subscribe(c, l, '/queue/py.hb', 'hb')
    send(c, l, '/queue/py.hb', 'alive')
    out['after'] = [body_text(f) for f in l.take(1)]
    out['errors'] = l.errors
    close(c)
    return out


def scenario_topic():
    out = {}
    s1, l1 = connect()
    s2, l2 = connect()
    subscribe(s1, l1, '/topic/py.news', 'news-1')
    subscribe(s2, l2, '/topic/py.news', 'news-2')
    p, lp = connect()
    for b in ('t1', 't2', 't3'):
        send(p, lp, '/topic/py.news', b)
    out['sub1'] = [msg(f) for f in l1.take(3)]
    out['sub2'] = [msg(f) for f in l2.take(3)]
    # after one unsubscribes, only the other receives
    r = rid('unsub')
    if VERSION == '1.0':
        s2.unsubscribe(destination='/topic/py.news', id='news-2', headers={'receipt': r})
    else:
        s2.unsubscribe('news-2', headers={'receipt': r})
    l2.receipt(r)
    send(p, lp, '/topic/py.news', 't4')
    out['sub1After'] = [body_text(f) for f in l1.take(1)]
    out['sub2After'] = l2.none()
    out['errors'] = l1.errors + l2.errors + lp.errors
    for c in (s1, s2, p):
        close(c)
    return out


def scenario_unsubscribe_by_destination():
    """STOMP 1.0: SUBSCRIBE with an id, UNSUBSCRIBE naming only the destination (stomp.py's Connection10 allows
    either header); the subscription ends, so a later message stays queued for the next consumer."""
    out = {}
    c, l = connect()
    subscribe(c, l, '/queue/py.unsub10', 'u10')
    r = rid('unsub')
    c.unsubscribe(destination='/queue/py.unsub10', headers={'receipt': r})
    l.receipt(r)
    p, lp = connect()
    send(p, lp, '/queue/py.unsub10', 'after')
    out['deliveredAfterUnsubscribe'] = not l.none()
    c2, l2 = connect()
    subscribe(c2, l2, '/queue/py.unsub10', 'u10-again')
    out['nextConsumer'] = [body_text(f) for f in l2.take(1)]
    out['errors'] = l.errors + lp.errors + l2.errors
    for x in (c, p, c2):
        close(x)
    return out


UTF8 = 'h\u00e9llo w\u00f6rld \u2014 \u65e5\u672c\u8a9e \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \U0001F680\u2713'


def scenario_headers():
    out = {}
    c, l = connect()
    # what a Node client (stompit) left on the queue before this script ran
    subscribe(c, l, '/queue/py.from-node', 'from-node')
    out['fromNode'] = msg(l.take(1, 'message from Node')[0])
    custom = {'x-plain': 'v1', 'x-utf8': 'caf\u00e9 \u2713 \u65e5\u672c', 'x-colon': 'a:b:c', 'correlation-id': 'corr-1', 'type': 'greeting'}
    if VERSION != '1.0':  # 1.0 has no header escaping
        custom['x-escaped'] = 'line1\nline2\\back:colon'
    subscribe(c, l, '/queue/py.hdr', 'hdr')
    send(c, l, '/queue/py.hdr', UTF8, content_type='text/plain; charset=utf-8', headers=custom)
    send(c, l, '/queue/py.hdr', UTF8, headers={'x-n': '2'})  # no content-type: a bytes message (content-length)
    got = l.take(2)
    out['messages'] = [msg(f) for f in got]
    out['sentBytes'] = len(UTF8.encode('utf-8'))
    out['sent'] = UTF8
    out['custom'] = custom
    send(c, l, '/queue/py.to-node', UTF8, content_type='text/plain; charset=utf-8', headers=custom)
    out['errors'] = l.errors
    close(c)
    return out


BINARY = bytes(range(256)) + b'\x00\x00\n\x00' + bytes(range(255, -1, -1))
BIG = bytes((i * 7919) % 256 for i in range(512 * 1024))  # NULs every 256 bytes


def scenario_binary():
    out = {}
    c, l = connect(auto_decode=False)
    subscribe(c, l, '/queue/py.bin-from-node', 'from-node')
    f = l.take(1, 'binary from Node')[0]
    out['fromNode'] = {'hex': f.body.hex(), 'contentLength': f.headers.get('content-length'), 'type': type(f.body).__name__}
    subscribe(c, l, '/queue/py.bin', 'bin')
    send(c, l, '/queue/py.bin', BINARY, content_type='application/octet-stream')
    send(c, l, '/queue/py.bin', BINARY)  # content-length only
    got = l.take(2)
    out['roundTrip'] = [{'hex': g.body.hex(), 'contentLength': g.headers.get('content-length'), 'contentType': g.headers.get('content-type')} for g in got]
    out['sentHex'] = BINARY.hex()
    send(c, l, '/queue/py.bin-to-node', BINARY, content_type='application/octet-stream')
    send(c, l, '/queue/py.bin', BIG)
    big = l.take(1, 'the 512 KiB message')[0]
    out['big'] = {'ok': big.body == BIG, 'length': len(big.body), 'contentLength': big.headers.get('content-length')}
    out['errors'] = l.errors
    close(c)
    return out


def scenario_plain():
    """A destination without a /prefix is the queue of that name, as RabbitMQ 3.10 and ActiveMQ 5.17 take it: a SEND
    to `py.plain` reaches a SUBSCRIBE to `/queue/py.plain` and one to the plain name, and the other way round."""
    out = {}
    plain = 'py.plain.' + VERSION.replace('.', '')
    c, l = connect()
    subscribe(c, l, plain, 'by-name', ack='client-individual')
    send(c, l, '/queue/' + plain, 'to the prefixed name')
    send(c, l, plain, 'to the plain name')
    got = l.take(2)
    out['byName'] = [msg(f) for f in got]
    for f in got:
        ack(c, l, f)
    r = rid('unsub')
    c.unsubscribe('by-name', headers={'receipt': r})
    l.receipt(r)
    subscribe(c, l, '/queue/' + plain, 'by-prefix')
    send(c, l, plain, 'plain again')
    out['byPrefix'] = [msg(f) for f in l.take(1)]
    out['errors'] = l.errors
    close(c)
    return out


def scenario_no_accept_version():
    """A CONNECT without accept-version (a STOMP 1.0 client; stomp.py always offers its version, so the frame goes
    out through stomp.py's own transport and comes back through its parser): CONNECTED says version 1.0, as the
    1.1/1.2 specs require of every CONNECTED and RabbitMQ 3.10 and ActiveMQ 5.17 answer."""
    c, l = new_connection()
    c.transport.start()
    c.transport.transmit(stomp.utils.Frame('CONNECT', {'login': 'py', 'passcode': 'secret'}))
    l.wait(lambda: l.connected_headers is not None, 'CONNECTED')
    out = {'connected': l.connected_headers}
    send(c, l, '/queue/py.noaccept', 'after a 1.0 CONNECT')
    out['errors'] = l.errors
    close(c)
    return out


def scenario_header_limits():
    """Headers as large as ActiveMQ 5.17 takes them (a 10 KiB header line, 1000 headers) arrive intact; a header line
    beyond 10 KiB gets ERROR and the close."""
    out = {}
    dest = '/queue/py.bigheaders.' + VERSION.replace('.', '')
    c, l = connect()
    subscribe(c, l, dest, 'big')
    big = 'v' * (10 * 1024 - len('x-big:') - 2)  # the line, escaping of 1.1/1.2 included, is 10 KiB - 2
    many = dict(('x-h%d' % i, str(i)) for i in range(990))
    many['x-big'] = big
    send(c, l, dest, 'large headers', headers=many)  # + destination, receipt, content-length: 994 headers
    (m,) = l.take(1)
    out['bigIntact'] = m.headers.get('x-big') == big
    out['manyIntact'] = all(m.headers.get('x-h%d' % i) == str(i) for i in range(990))
    out['errors'] = list(l.errors)
    c.send(dest, 'too large', headers={'x-huge': 'v' * (10 * 1024 + 1), 'receipt': 'too-big'})
    l.wait(lambda: l.errors and l.disconnected, 'ERROR and close')
    out['tooLarge'] = l.errors[-1]
    out['tooLargeReceipts'] = [r for r in l.receipts if r == 'too-big']
    return out


def scenario_error():
    """A bad frame gets an ERROR (with the frame's receipt as receipt-id) and the connection closes."""
    out = {}
    c, l = connect()
    c.send('/nowhere/x', 'lost', headers={'receipt': 'bad-send'})
    l.wait(lambda: l.errors and l.disconnected, 'ERROR and close')
    out['errors'] = l.errors
    out['receipts'] = l.receipts
    out['connected'] = c.is_connected()
    return out


def scenario_ack_message_id():
    """STOMP 1.2: an ACK naming the message by message-id (+ subscription) instead of the REQUIRED id header gets an
    ERROR and the connection closes (RabbitMQ 3.10 and ActiveMQ 5.17 refuse it too); the message, not acknowledged,
    comes back flagged redelivered and stomp.py's own ack (the MESSAGE's ack header as id) acknowledges it."""
    out = {}
    dest = '/queue/py-ack-mid-' + VERSION
    c, l = connect()
    subscribe(c, l, dest, 'mid', ack='client-individual')
    send(c, l, dest, 'once')
    (m,) = l.take(1)
    c.send_frame('ACK', {'message-id': m.headers['message-id'], 'subscription': 'mid', 'receipt': 'bad-ack'})
    l.wait(lambda: l.errors and l.disconnected, 'ERROR and close')
    out['errors'] = l.errors
    out['receipts'] = l.receipts
    c2, l2 = connect()
    subscribe(c2, l2, dest, 'mid2', ack='client-individual')
    (again,) = l2.take(1)
    out['again'] = msg(again)
    ack(c2, l2, again)
    out['rest'] = l2.none()
    out['errors2'] = l2.errors
    close(c2)
    return out


def scenario_selector():
    """Selectors over string headers, as against ActiveMQ: `n > 3` matches the header n:5 (its STOMP transport
    reads a string compared with a number as a number), a string that is no number matches no comparison.
    Each selector is a topic subscription that also takes the last message (done:yes), so when that arrives
    everything it matched before has arrived too."""
    out = {}
    c, l = connect()
    t = '/topic/py.sel.' + VERSION
    sels = ["n > 3", "n = 5", "n = '5'", "n BETWEEN 1 AND 6", "n < 3.0", "flag = TRUE", "NOT (n > 3)"]
    for i, sel in enumerate(sels):
        r = rid('sub')
        c.subscribe(t, id='s%d' % i, headers={'receipt': r, 'selector': "(%s) OR done = 'yes'" % sel})
        l.receipt(r)
    for n, flag in (('5', 'true'), ('abc', 'false'), ('2', 'TRUE'), ('7', 'no'), ('2.5', 'false')):
        send(c, l, t, 'n=' + n, headers={'n': n, 'flag': flag})
    send(c, l, t, 'done', headers={'done': 'yes'})
    done = lambda i: any(f.headers.get('subscription') == 's%d' % i and body_text(f) == 'done' for f in l.messages)
    l.wait(lambda: all(done(i) for i in range(len(sels))), 'the last message on every subscription')
    out['got'] = {sel: [body_text(f) for f in l.messages if f.headers.get('subscription') == 's%d' % i and body_text(f) != 'done']
                  for i, sel in enumerate(sels)}
    out['errors'] = l.errors
    close(c)
    return out

def scenario_rabbit():
    """RabbitMQ's STOMP names: /amq/queue/<q> is the queue /queue/<q>, /exchange/amq.topic/<key> the topic
    /topic/<key>; prefetch-count bounds the unacknowledged messages of a subscription."""
    out = {}
    c, l = connect()
    q = 'py.rabbit.' + VERSION.replace('.', '')
    for i in range(4):
        send(c, l, '/queue/' + q, 'q%d' % i)
    r = rid('sub')
    c.subscribe('/amq/queue/' + q, id='amq', ack='client-individual' if VERSION != '1.0' else 'client',
                headers={'receipt': r, 'prefetch-count': '2'})
    l.receipt(r)
    first = l.take(2)
    out['first'] = [body_text(f) for f in first]
    out['noThird'] = l.none()  # prefetch-count: 2 unacknowledged at most
    ack(c, l, first[0])
    out['afterAck'] = [body_text(f) for f in l.take(1)]
    subscribe(c, l, '/topic/' + q, 'topic')
    subscribe(c, l, '/exchange/amq.topic/' + q, 'exchange')
    send(c, l, '/exchange/amq.topic/' + q, 'via exchange')
    send(c, l, '/topic/' + q, 'via topic')
    got = l.take(4)
    out['topic'] = sorted('%s <- %s' % (f.headers['subscription'], body_text(f)) for f in got)
    out['errors'] = l.errors
    close(c)
    return out

def scenario_rabbit_durable():
    """RabbitMQ's durable topic subscription: SUBSCRIBE with durable:true and auto-delete:false keeps what is
    published while the subscriber is away (no client-id needed); UNSUBSCRIBE with durable:true deletes it."""
    out = {}
    t = '/topic/py.rabbit-durable.' + VERSION
    durable = {'durable': 'true', 'auto-delete': 'false'}
    pub, pl = connect()

    def sub_once(what):
        c, l = connect()
        r = rid('sub')
        c.subscribe(t, id='dur', headers=dict(durable, receipt=r))
        l.receipt(r)
        return c, l

    c, l = sub_once('first')
    close(c)
    send(pub, pl, t, 'while away')
    c, l = sub_once('back')
    out['back'] = [body_text(f) for f in l.take(1)]
    r = rid('unsub')
    c.unsubscribe(id='dur', headers=dict(durable, receipt=r))
    l.receipt(r)
    close(c)
    send(pub, pl, t, 'after delete')
    c, l = sub_once('again')
    out['afterDelete'] = l.none()
    r = rid('unsub')
    c.unsubscribe(id='dur', headers=dict(durable, receipt=r))
    l.receipt(r)
    out['errors'] = l.errors + pl.errors
    close(c)
    close(pub)
    return out

def main():
    watchdog = threading.Timer(25, lambda: (print(json.dumps({'error': 'watchdog: scenario took over 25 s'}), flush=True), __import__('os')._exit(2)))
    watchdog.daemon = True
    watchdog.start()
    try:
        res = globals()['scenario_' + sys.argv[1]]()
        res['version'] = VERSION
        print(json.dumps(res), flush=True)
    except Exception:
        print(json.dumps({'error': traceback.format_exc()}), flush=True)
        sys.exit(1)


if __name__ == '__main__':
    main()
