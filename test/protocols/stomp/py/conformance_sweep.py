"""
Differential STOMP conformance sweep (a manual tool, not part of `npm test`): the same scenario against each broker,
the frames each answered, side by side; `<<< DIFFERS` marks the rows where they disagree (volatile header values
such as message-id, session, timestamp are blanked, header order is ignored).

    BROKERS=wharf=41613,rabbit=42613,amq=43613 /usr/bin/python3 conformance_sweep.py [scenario-substring ...]

Every broker needs a user guest/guest. How the 2026-12-07 sweep ran them (each as a child process, spare ports):
- Wharf: `node --import tsx src/app/cli.ts start -c wharf.yaml` with only `listeners.stomp` enabled and
  `security.users: [{ username: guest, passwordHash: <wharf hash-password guest> }]`;
- RabbitMQ 3.10: /usr/lib/rabbitmq/bin/rabbitmq-server with RABBITMQ_BASE/…/RABBITMQ_CONFIG_FILE in a temp dir,
  enabled_plugins `[rabbitmq_stomp].`, rabbitmq.conf `stomp.listeners.tcp.1 = 127.0.0.1:<port>` (as bench/compare.ts);
- ActiveMQ 5.17: java -jar /usr/share/activemq/bin/activemq.jar start xbean:file:activemq.xml (as
  bench/mqtt-peers.ts launchActiveMQ) with a `stomp://127.0.0.1:<port>` connector and a simpleAuthenticationPlugin.
Raw sockets show the exact frames; stomp.py (python3-stomp 8) is used where its own behaviour is the point.
"""
import json
import os
import re
import socket
import sys
import threading
import time
import uuid

import stomp

BROKERS = [tuple(x.split('=')) for x in os.environ.get('BROKERS', 'wharf=41613,rabbit=42613,amq=43613').split(',')]
USER, PASS = 'guest', 'guest'
VOLATILE = {'message-id', 'session', 'server', 'timestamp', 'ack', 'expires', 'content-length'}


def uniq(tag):
    return '%s.%s' % (tag, uuid.uuid4().hex[:8])


class Raw:
    """A raw STOMP socket: write bytes, read frames (heart-beats counted, close noticed)."""

    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=5)
        self.buf = b''
        self.closed = False
        self.beats = 0

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        try:
            self.s.sendall(data)
        except OSError as e:
            self.closed = True
            return 'send failed: %s' % e

    def frame(self, command, headers=(), body=b'', cl=None):
        out = command + '\n'
        for k, v in headers:
            out += '%s:%s\n' % (k, v)
        if isinstance(body, str):
            body = body.encode('utf-8')
        if cl is True:
            out += 'content-length:%d\n' % len(body)
        out += '\n'
        return self.send(out.encode('utf-8') + body + b'\x00')

    def _fill(self, deadline):
        if self.closed:
            return False
        t = deadline - time.time()
        if t <= 0:
            return False
        self.s.settimeout(t)
        try:
            d = self.s.recv(1 << 20)
        except socket.timeout:
            return False
        except OSError:
            self.closed = True
            return False
        if not d:
            self.closed = True
            return False
        self.buf += d
        return True

    def _parse(self):
        while self.buf[:1] in (b'\n', b'\r'):
            if self.buf[:1] == b'\n':
                self.beats += 1
            self.buf = self.buf[1:]
        if not self.buf:
            return None
        i = self.buf.find(b'\n\n')
        j = self.buf.find(b'\r\n\r\n')
        if i < 0 and j < 0:
            return None
        if j >= 0 and (i < 0 or j < i):
            head, rest = self.buf[:j], self.buf[j + 4:]
        else:
            head, rest = self.buf[:i], self.buf[i + 2:]
        lines = head.decode('utf-8', 'replace').replace('\r\n', '\n').split('\n')
        cmd, hs = lines[0], []
        for l in lines[1:]:
            k, _, v = l.partition(':')
            hs.append((k, v))
        cl = next((v for k, v in hs if k == 'content-length'), None)
        if cl is not None:
            n = int(cl)
            if len(rest) < n + 1:
                return None
            body, rest = rest[:n], rest[n + 1:]
        else:
            z = rest.find(b'\x00')
            if z < 0:
                return None
            body, rest = rest[:z], rest[z + 1:]
        self.buf = rest
        return (cmd, hs, body)

    def read(self, timeout=1.0, until=None, n=None):
        """Frames arriving within timeout (stops early at `until` command or after n frames)."""
        out = []
        deadline = time.time() + timeout
        while True:
            f = self._parse()
            if f is not None:
                out.append(f)
                if (until and f[0] == until) or (n and len(out) >= n):
                    return out
                continue
            if not self._fill(deadline):
                return out

    def wait_closed(self, timeout=3.0):
        deadline = time.time() + timeout
        while not self.closed and time.time() < deadline:
            if not self._fill(deadline):
                break
        return self.closed

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def show(frames, keep=()):
    """Frames as short strings, volatile header values blanked."""
    out = []
    for cmd, hs, body in frames:
        h = []
        for k, v in hs:
            if k in VOLATILE and k not in keep:
                v = '*'
            h.append('%s:%s' % (k, v))
        h.sort()
        b = body.decode('utf-8', 'replace')
        if len(b) > 80:
            b = b[:80] + '...(%d)' % len(body)
        out.append('%s{%s}%s' % (cmd, ', '.join(h), (' body=%r' % b) if body else ''))
    return out


def connect(port, version='1.2', extra=(), user=USER, pw=PASS, cmd='CONNECT'):
    r = Raw(port)
    hs = []
    if version:
        hs.append(('accept-version', version))
    hs += [('host', '/'), ('login', user), ('passcode', pw)] + list(extra)
    r.frame(cmd, hs)
    got = r.read(3, n=1)
    return r, got


# ---------------------------------------------------------------------------------------------------- scenarios
SCEN = []


def scenario(fn):
    SCEN.append(fn)
    return fn


@scenario
def connect_vs_stomp(port):
    res = {}
    for cmd in ('CONNECT', 'STOMP'):
        r, got = connect(port, '1.2', cmd=cmd)
        res[cmd] = show(got)
        r.close()
    return res


@scenario
def version_negotiation(port):
    res = {}
    for acc in (None, '1.0', '1.1', '1.2', '1.0,1.1', '1.1,1.0', '1.0,1.1,1.2', '1.1, 1.2', '2.0', '1.3,1.1', ''):
        r, got = connect(port, acc)
        res[repr(acc)] = show(got) + (['<closed>'] if r.wait_closed(0.5) else [])
        r.close()
    return res


@scenario
def connect_no_host_and_stomp10(port):
    res = {}
    # STOMP frame without accept-version: 1.2 says STOMP frame is 1.1+; what do brokers do?
    r = Raw(port)
    r.frame('STOMP', [('login', USER), ('passcode', PASS)])
    res['STOMP-no-accept'] = show(r.read(2, n=1))
    r.close()
    r = Raw(port)
    r.frame('CONNECT', [('accept-version', '1.2'), ('login', USER), ('passcode', PASS)])
    res['1.2-no-host'] = show(r.read(2, n=1))
    r.close()
    return res


@scenario
def heartbeat_negotiation(port):
    res = {}
    for hb in ('0,0', '0,500', '500,0', '1000,1000', '10,10', 'x,y', '1000'):
        r, got = connect(port, '1.2', [('heart-beat', hb)])
        res[hb] = show(got) + (['<closed>'] if r.wait_closed(0.3) else [])
        r.close()
    r, got = connect(port, None, [('heart-beat', '0,500')])
    res['1.0 with 0,500'] = show(got)
    t = time.time()
    r.read(2.0)
    res['1.0 with 0,500: beats in 2s'] = r.beats
    r.close()
    return res


@scenario
def heartbeat_broker_sends(port):
    r, got = connect(port, '1.2', [('heart-beat', '0,500')])
    hb = dict(got[0][1]).get('heart-beat') if got else None
    r.read(3.0)
    res = {'connected': show(got), 'beats in 3s (asked 500ms)': r.beats, 'closed': r.closed}
    r.close()
    return res


@scenario
def heartbeat_client_silent(port):
    """Client promises 1000 ms heart-beats then sends nothing: when does the broker close, and with what?"""
    r, got = connect(port, '1.2', [('heart-beat', '1000,0')])
    t0 = time.time()
    frames = r.read(8.0)
    closed = r.wait_closed(0.1)
    res = {'connected': show(got), 'then': show(frames), 'closed': closed, 'after_s': round(time.time() - t0, 1) if closed else None}
    r.close()
    return res


@scenario
def login_failures(port):
    res = {}
    for name, (u, p) in {'bad passcode': (USER, 'nope'), 'unknown user': ('nobody', 'x'), 'no login': (None, None)}.items():
        r = Raw(port)
        hs = [('accept-version', '1.2'), ('host', '/')]
        if u is not None:
            hs += [('login', u), ('passcode', p)]
        r.frame('CONNECT', hs + [('receipt', 'r-conn')])
        got = r.read(3, n=1)
        # a frame right after: answered?
        r.frame('SEND', [('destination', '/queue/x'), ('receipt', 'r-after')], 'x')
        more = r.read(1)
        res[name] = show(got) + show(more) + (['<closed>'] if r.wait_closed(3) else ['<open>'])
        r.close()
    return res


@scenario
def receipts_every_frame(port):
    res = {}
    for v in ('1.0', '1.1', '1.2'):
        q = '/queue/' + uniq('rcpt')
        r, got = connect(port, v)
        seq = []
        r.frame('SUBSCRIBE', [('destination', q), ('id', 's1'), ('ack', 'client-individual'), ('receipt', 'r-sub')])
        seq += r.read(2, until='RECEIPT')
        r.frame('SEND', [('destination', q), ('receipt', 'r-send')], 'a')
        r.frame('SEND', [('destination', q), ('receipt', 'r-send2')], 'b')
        fs = r.read(2, n=4)
        seq += fs
        msgs = [f for f in fs if f[0] == 'MESSAGE']
        while len(msgs) < 2:
            more = r.read(2, n=1)
            if not more:
                break
            seq += more
            msgs += [f for f in more if f[0] == 'MESSAGE']

        def ackh(m):
            h = dict(m[1])
            if v == '1.2':
                return [('id', h.get('ack', ''))]
            return [('message-id', h['message-id']), ('subscription', h.get('subscription', 's1'))]
        if msgs:
            r.frame('ACK', ackh(msgs[0]) + [('receipt', 'r-ack')])
            seq += r.read(2, until='RECEIPT')
        if len(msgs) > 1 and v != '1.0':
            r.frame('NACK', ackh(msgs[1]) + [('receipt', 'r-nack')])
            seq += r.read(2, until='RECEIPT')
        r.frame('BEGIN', [('transaction', 't1'), ('receipt', 'r-begin')])
        seq += r.read(2, until='RECEIPT')
        r.frame('COMMIT', [('transaction', 't1'), ('receipt', 'r-commit')])
        seq += r.read(2, until='RECEIPT')
        r.frame('BEGIN', [('transaction', 't2'), ('receipt', 'r-begin2')])
        seq += r.read(2, until='RECEIPT')
        r.frame('ABORT', [('transaction', 't2'), ('receipt', 'r-abort')])
        seq += r.read(2, until='RECEIPT')
        r.frame('UNSUBSCRIBE', [('id', 's1'), ('destination', q), ('receipt', 'r-unsub')])
        seq += r.read(2, until='RECEIPT')
        r.frame('DISCONNECT', [('receipt', 'r-disc')])
        seq += r.read(2, until='RECEIPT')
        res[v] = show(seq) + (['<closed>'] if r.wait_closed(3) else ['<open>'])
        r.close()
    return res


def subscribe(r, dest, sid='s1', ack='auto', extra=()):
    r.frame('SUBSCRIBE', [('destination', dest), ('id', sid), ('ack', ack), ('receipt', 'rs-' + sid)] + list(extra))
    return r.read(3, until='RECEIPT')


@scenario
def content_length_nul(port):
    res = {}
    for v in ('1.0', '1.2'):
        q = '/queue/' + uniq('nul')
        r, _ = connect(port, v)
        subscribe(r, q)
        body = b'a\x00b\x00\x00c'
        r.frame('SEND', [('destination', q), ('receipt', 'r1'), ('content-length', str(len(body)))], body)
        fs = r.read(2, n=2)
        m = [f for f in fs if f[0] == 'MESSAGE']
        res[v] = show(fs, keep=('content-length',)) + (['body ok' if m and m[0][2] == body else 'BODY MISMATCH %r' % (m[0][2] if m else None)])
        # content-length shorter than the NUL position, extra bytes before NUL -> error?
        r.send(b'SEND\ndestination:' + q.encode() + b'\ncontent-length:2\nreceipt:r2\n\nabc\x00')
        res[v + ' bad trailing'] = show(r.read(2, n=2)) + (['<closed>'] if r.wait_closed(1) else ['<open>'])
        r.close()
    # no content-length: body to first NUL; text body
    r, _ = connect(port, '1.2')
    q = '/queue/' + uniq('nocl')
    subscribe(r, q)
    r.send(b'SEND\ndestination:' + q.encode() + b'\nreceipt:r3\n\nhello\x00')
    res['no content-length'] = show(r.read(2, n=2), keep=('content-length',))
    r.close()
    return res


@scenario
def content_type(port):
    res = {}
    r, _ = connect(port, '1.2')
    q = '/queue/' + uniq('ct')
    subscribe(r, q)
    for ct in ('text/plain', 'application/json;charset=utf-8', 'application/octet-stream', 'text/plain; charset=iso-8859-1', 'x-custom/thing'):
        r.frame('SEND', [('destination', q), ('content-type', ct)], 'data', cl=True)
        fs = r.read(2, n=1)
        res[ct] = [dict(f[1]).get('content-type', '<none>') for f in fs]
    r.frame('SEND', [('destination', q)], 'data')
    fs = r.read(2, n=1)
    res['none, no content-length'] = [dict(f[1]).get('content-type', '<none>') for f in fs]
    r.frame('SEND', [('destination', q)], 'data', cl=True)
    fs = r.read(2, n=1)
    res['none, with content-length'] = [dict(f[1]).get('content-type', '<none>') for f in fs]
    r.close()
    return res


@scenario
def escaping(port):
    res = {}
    # SEND with an escaped header value; receive on a 1.0, 1.1 and 1.2 subscriber
    for sv in ('1.0', '1.1', '1.2'):
        for raw in ('a\\cb', 'x\\ny', 'back\\\\slash', 'cr\\rx', 'tab\\tx', 'trail\\'):
            q = '/queue/' + uniq('esc')
            s, _ = connect(port, '1.2')
            subscribe(s, q)
            r, _ = connect(port, sv)
            r.send(('SEND\ndestination:%s\nreceipt:r1\nmy-hdr:%s\n\nbody\x00' % (q, raw)).encode())
            ans = r.read(1.5, n=1)
            closed = r.wait_closed(0.5)
            got = s.read(1.5, n=1)
            key = '%s SEND my-hdr:%s' % (sv, raw)
            res[key] = {'sender': show(ans) + (['<closed>'] if closed else []), 'recv(1.2) my-hdr': [repr(dict(f[1]).get('my-hdr')) for f in got if f[0] == 'MESSAGE']}
            r.close()
            s.close()
    # a value with ':' / newline / backslash sent by a 1.2 client delivered to each version
    for rv in ('1.0', '1.1', '1.2'):
        q = '/queue/' + uniq('esc2')
        s, _ = connect(port, rv)
        subscribe(s, q)
        r, _ = connect(port, '1.2')
        r.send(('SEND\ndestination:%s\nreceipt:r1\nh1:a\\cb\nh2:back\\\\x\nh3:l1\\nl2\n\nbody\x00' % q).encode())
        r.read(1.5, n=1)
        got = s.read(1.5, n=1)
        res['MESSAGE to %s' % rv] = [[(k, v) for k, v in f[1] if k in ('h1', 'h2', 'h3')] for f in got]
        r.close()
        s.close()
    # escaped header name
    q = '/queue/' + uniq('esc3')
    s, _ = connect(port, '1.2')
    subscribe(s, q)
    r, _ = connect(port, '1.2')
    r.send(('SEND\ndestination:%s\nreceipt:r1\nna\\cme:v\n\nbody\x00' % q).encode())
    r.read(1.5, n=1)
    got = s.read(1.5, n=1)
    res['escaped name'] = [[(k, v) for k, v in f[1] if k.startswith('na')] for f in got]
    # CONNECT headers not unescaped (1.2)
    r2 = Raw(port)
    r2.frame('CONNECT', [('accept-version', '1.2'), ('host', '/'), ('login', USER), ('passcode', PASS), ('x-esc', 'a\\tb')])
    res['CONNECT with \\t'] = show(r2.read(2, n=1))
    r2.close()
    return res


@scenario
def repeated_headers(port):
    res = {}
    q = '/queue/' + uniq('rep')
    q2 = '/queue/' + uniq('rep2')
    s, _ = connect(port, '1.2')
    subscribe(s, q)
    subscribe(s, q2, 's2')
    r, _ = connect(port, '1.2')
    r.send(('SEND\ndestination:%s\ndestination:%s\nfoo:first\nfoo:second\nreceipt:r1\n\nbody\x00' % (q, q2)).encode())
    res['sender'] = show(r.read(1.5, n=1))
    got = s.read(1.5, n=2)
    res['received'] = [(dict(f[1]).get('destination'), [v for k, v in f[1] if k == 'foo']) for f in got]
    # repeated content-length: first wins
    r.send(('SEND\ndestination:%s\ncontent-length:3\ncontent-length:1\nreceipt:r2\n\nabc\x00' % q).encode())
    res['cl twice sender'] = show(r.read(1.5, n=1))
    got = s.read(1.5, n=1)
    res['cl twice received'] = [f[2] for f in got]
    # repeated receipt
    r.send(('SEND\ndestination:%s\nreceipt:first\nreceipt:second\n\nabc\x00' % q).encode())
    res['receipt twice'] = show(r.read(1.5, n=1), keep=())
    s.read(1, n=1)
    r.close()
    s.close()
    return res


def get_msgs(r, n, timeout=2.0):
    out = []
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        fs = r.read(max(0.05, deadline - time.time()), n=1)
        out += fs
    return out


@scenario
def ack_modes(port):
    res = {}
    for v in ('1.1', '1.2'):
        for mode in ('auto', 'client', 'client-individual'):
            q = '/queue/' + uniq('ack')
            p, _ = connect(port, v)
            for i in range(3):
                p.frame('SEND', [('destination', q), ('receipt', 'p%d' % i)], 'm%d' % i)
            p.read(2, n=3)
            c, _ = connect(port, v)
            subscribe(c, q, ack=mode)
            ms = get_msgs(c, 3)
            ids = [dict(m[1]) for m in ms if m[0] == 'MESSAGE']
            if mode != 'auto' and len(ids) == 3:
                h = ids[1]
                if v == '1.2':
                    c.frame('ACK', [('id', h['ack']), ('receipt', 'ra')])
                else:
                    c.frame('ACK', [('message-id', h['message-id']), ('subscription', h['subscription']), ('receipt', 'ra')])
                ackans = show(c.read(2, n=1))
            else:
                ackans = []
            c.frame('DISCONNECT', [('receipt', 'd')])
            c.read(2, until='RECEIPT')
            c.close()
            time.sleep(0.3)
            c2, _ = connect(port, v)
            subscribe(c2, q, ack='auto')
            again = get_msgs(c2, 3, 1.5)
            res['%s %s' % (v, mode)] = {'first': [m[2].decode() for m in ms], 'ack m1 →': ackans, 'after reconnect': [(m[2].decode(), dict(m[1]).get('redelivered')) for m in again]}
            c2.close()
            p.close()
    return res


@scenario
def nack(port):
    res = {}
    for v in ('1.1', '1.2'):
        for mode in ('client', 'client-individual'):
            q = '/queue/' + uniq('nack')
            p, _ = connect(port, v)
            for i in range(3):
                p.frame('SEND', [('destination', q), ('receipt', 'p%d' % i)], 'm%d' % i)
            p.read(2, n=3)
            c, _ = connect(port, v)
            subscribe(c, q, ack=mode)
            ms = get_msgs(c, 3)
            hs = [dict(m[1]) for m in ms]
            h = hs[1]
            if v == '1.2':
                c.frame('NACK', [('id', h['ack']), ('receipt', 'rn')])
            else:
                c.frame('NACK', [('message-id', h['message-id']), ('subscription', h['subscription']), ('receipt', 'rn')])
            after = get_msgs(c, 3, 1.5)
            c.frame('DISCONNECT', [('receipt', 'd')])
            c.read(1, until='RECEIPT')
            c.close()
            time.sleep(0.3)
            c2, _ = connect(port, v)
            subscribe(c2, q)
            left = get_msgs(c2, 3, 1.5)
            res['%s %s' % (v, mode)] = {'nack m1 →': show(after), 'left on queue after reconnect': [m[2].decode() for m in left]}
            c2.close()
            p.close()
    return res


@scenario
def ack_in_tx_abort(port):
    res = {}
    for v in ('1.1', '1.2'):
        for kind in ('ACK', 'NACK'):
            q = '/queue/' + uniq('txack')
            p, _ = connect(port, v)
            p.frame('SEND', [('destination', q), ('receipt', 'p')], 'm0')
            p.read(2, n=1)
            c, _ = connect(port, v)
            subscribe(c, q, ack='client-individual')
            ms = get_msgs(c, 1)
            h = dict(ms[0][1]) if ms else {}
            c.frame('BEGIN', [('transaction', 'tx')])
            idh = [('id', h.get('ack', ''))] if v == '1.2' else [('message-id', h.get('message-id', '')), ('subscription', 's1')]
            c.frame(kind, idh + [('transaction', 'tx'), ('receipt', 'r1')])
            a1 = c.read(1.5, n=1)
            c.frame('ABORT', [('transaction', 'tx'), ('receipt', 'r2')])
            a2 = get_msgs(c, 2, 2)
            # ack again outside the tx
            ms2 = [f for f in a2 if f[0] == 'MESSAGE']
            res['%s %s in tx, ABORT' % (v, kind)] = show(a1) + show(a2)
            if kind == 'ACK':
                c.frame('ACK', idh + [('receipt', 'r3')])
                res['%s ACK in tx, ABORT, re-ACK original' % v] = show(c.read(1.5, n=1)) + (['<closed>'] if c.wait_closed(0.3) else [])
            c.frame('DISCONNECT', [('receipt', 'd')])
            c.read(1, until='RECEIPT')
            c.close()
            time.sleep(0.5)
            c2, _ = connect(port, v)
            subscribe(c2, q)
            res['%s %s in tx, ABORT: then on queue' % (v, kind)] = [(m[2].decode(), dict(m[1]).get('redelivered')) for m in get_msgs(c2, 1, 1.5)]
            c2.close()
            p.close()
    return res


def after_error(r, t=1.5):
    fs = r.read(t, until='ERROR')
    return show(fs) + (['<closed>'] if r.wait_closed(3) else ['<open>'])


@scenario
def tx_errors(port):
    res = {}
    cases = {
        'COMMIT unknown': [('COMMIT', [('transaction', 'nope'), ('receipt', 'r')])],
        'ABORT unknown': [('ABORT', [('transaction', 'nope'), ('receipt', 'r')])],
        'BEGIN twice': [('BEGIN', [('transaction', 't')]), ('BEGIN', [('transaction', 't'), ('receipt', 'r')])],
        'BEGIN no tx header': [('BEGIN', [('receipt', 'r')])],
        'COMMIT twice': [('BEGIN', [('transaction', 't')]), ('COMMIT', [('transaction', 't')]), ('COMMIT', [('transaction', 't'), ('receipt', 'r')])],
        'SEND in unknown tx': [('SEND', [('destination', '/queue/txerr'), ('transaction', 'nope'), ('receipt', 'r')])],
    }
    for name, frames in cases.items():
        r, _ = connect(port, '1.2')
        for cmd, hs in frames:
            r.frame(cmd, hs, 'x' if cmd == 'SEND' else b'')
        res[name] = after_error(r)
        r.close()
    return res


@scenario
def subscribe_errors(port):
    res = {}
    for v in ('1.0', '1.1', '1.2'):
        r, _ = connect(port, v)
        r.frame('SUBSCRIBE', [('destination', '/queue/' + uniq('noid')), ('receipt', 'r')])
        res[v + ' SUBSCRIBE no id'] = after_error(r)
        r.close()
    r, _ = connect(port, '1.2')
    subscribe(r, '/queue/' + uniq('dup'), 'same')
    r.frame('SUBSCRIBE', [('destination', '/queue/' + uniq('dup2')), ('id', 'same'), ('receipt', 'r')])
    res['duplicate id (other dest)'] = after_error(r)
    r.close()
    r, _ = connect(port, '1.2')
    qd = '/queue/' + uniq('dup3')
    subscribe(r, qd, 'same')
    r.frame('SUBSCRIBE', [('destination', qd), ('id', 'same'), ('receipt', 'r')])
    res['duplicate id (same dest)'] = after_error(r)
    r.close()
    for v in ('1.0', '1.2'):
        r, _ = connect(port, v)
        r.frame('UNSUBSCRIBE', [('id', 'nope'), ('receipt', 'r')])
        res[v + ' UNSUBSCRIBE unknown id'] = after_error(r)
        r.close()
    r, _ = connect(port, '1.2')
    r.frame('UNSUBSCRIBE', [('receipt', 'r')])
    res['UNSUBSCRIBE no id'] = after_error(r)
    r.close()
    r, _ = connect(port, '1.2')
    r.frame('SUBSCRIBE', [('destination', '/queue/' + uniq('badack')), ('id', 's'), ('ack', 'bogus'), ('receipt', 'r')])
    res['SUBSCRIBE ack:bogus'] = after_error(r)
    r.close()
    r, _ = connect(port, '1.2')
    r.frame('SUBSCRIBE', [('id', 's'), ('receipt', 'r')])
    res['SUBSCRIBE no destination'] = after_error(r)
    r.close()
    r, _ = connect(port, '1.2')
    r.frame('ACK', [('id', '12345'), ('receipt', 'r')])
    res['ACK unknown id'] = after_error(r)
    r.close()
    r, _ = connect(port, '1.2')
    r.frame('NACK', [('id', '12345'), ('receipt', 'r')])
    res['NACK unknown id'] = after_error(r)
    r.close()
    r, _ = connect(port, '1.2')
    r.frame('FOO', [('receipt', 'r')])
    res['unknown command'] = after_error(r)
    r.close()
    return res


@scenario
def send_errors(port):
    res = {}
    r, _ = connect(port, '1.2')
    r.frame('SEND', [('receipt', 'r')], 'x')
    res['SEND no destination'] = after_error(r)
    r.close()
    r, _ = connect(port, '1.2')
    r.frame('SEND', [('destination', ''), ('receipt', 'r')], 'x')
    res['SEND empty destination'] = after_error(r)
    r.close()
    r, _ = connect(port, '1.2')
    r.frame('SEND', [('destination', '/nowhere/x'), ('receipt', 'r')], 'x')
    res['SEND /nowhere/x'] = after_error(r)
    r.close()
    r, _ = connect(port, '1.2')
    r.frame('SEND', [('destination', 'plainname'), ('receipt', 'r')], 'x')
    res['SEND plainname'] = after_error(r)
    r.close()
    return res


@scenario
def frames_after_error(port):
    res = {}
    r, _ = connect(port, '1.2')
    q = '/queue/' + uniq('aft')
    # one write: an error-causing frame then more frames with receipts
    data = b'COMMIT\ntransaction:nope\nreceipt:r0\n\n\x00SEND\ndestination:' + q.encode() + b'\nreceipt:r1\n\nafter\x00SUBSCRIBE\ndestination:' + q.encode() + b'\nid:s\nreceipt:r2\n\n\x00'
    r.send(data)
    res['same write'] = after_error(r)
    r.close()
    # the SEND after the error: stored?
    c, _ = connect(port, '1.2')
    subscribe(c, q)
    res['SEND after ERROR stored?'] = [m[2].decode() for m in get_msgs(c, 1, 1.0)]
    c.close()
    return res


@scenario
def large_frames(port):
    res = {}
    for size in (1 << 20, 5 << 20, 20 << 20, 70 << 20, 130 << 20):
        q = '/queue/' + uniq('big')
        r, _ = connect(port, '1.2')
        body = b'x' * size
        t0 = time.time()
        err = r.send(b'SEND\ndestination:' + q.encode() + b'\nreceipt:r\ncontent-length:' + str(size).encode() + b'\n\n' + body + b'\x00')
        ans = r.read(20, n=1)
        res['%d MiB' % (size >> 20)] = show(ans) + ([err] if err else []) + (['<closed>'] if r.wait_closed(0.5) else [])
        r.close()
    # a huge header line
    for n in (8 << 10, 100 << 10, 1 << 20):
        r, _ = connect(port, '1.2')
        r.send(b'SEND\ndestination:/queue/bigh\nreceipt:r\nx-h:' + b'y' * n + b'\n\nbody\x00')
        res['header %d KiB' % (n >> 10)] = show(r.read(5, n=1)) + (['<closed>'] if r.wait_closed(0.5) else [])
        r.close()
    # many headers
    for n in (100, 1000, 5000):
        r, _ = connect(port, '1.2')
        r.send(b'SEND\ndestination:/queue/manyh\nreceipt:r\n' + b''.join(b'h%d:v\n' % i for i in range(n)) + b'\nbody\x00')
        res['%d headers' % n] = show(r.read(5, n=1)) + (['<closed>'] if r.wait_closed(0.5) else [])
        r.close()
    return res


@scenario
def destinations(port):
    res = {}
    r, _ = connect(port, '1.2')
    # topic: no subscriber then subscriber
    t = '/topic/' + uniq('t')
    r.frame('SEND', [('destination', t), ('receipt', 'r0')], 'lost')
    r.read(1, n=1)
    subscribe(r, t, 'ts')
    r.frame('SEND', [('destination', t), ('receipt', 'r1')], 'seen')
    res['topic'] = show(get_msgs(r, 2, 1.5))
    # temp queue + reply-to
    tq = '/temp-queue/' + uniq('tq')
    subscribe(r, tq, 'tqs')
    q = '/queue/' + uniq('svc')
    subscribe(r, q, 'qs')
    r.frame('SEND', [('destination', q), ('reply-to', tq), ('receipt', 'r2')], 'req')
    got = get_msgs(r, 2, 1.5)
    res['request MESSAGE'] = show(got)
    msgs = [f for f in got if f[0] == 'MESSAGE']
    if msgs:
        rt = dict(msgs[0][1]).get('reply-to')
        other, _ = connect(port, '1.2')
        other.frame('SEND', [('destination', rt), ('receipt', 'r3')], 'reply')
        res['reply from other conn'] = show(other.read(1.5, n=1))
        other.close()
        res['reply MESSAGE'] = show(get_msgs(r, 1, 1.5))
    # reply-to to a plain queue is kept
    q2 = '/queue/' + uniq('rt')
    subscribe(r, q2, 'q2')
    r.frame('SEND', [('destination', q2), ('reply-to', '/queue/answers'), ('receipt', 'r4')], 'x')
    res['reply-to /queue/answers'] = [dict(f[1]).get('reply-to') for f in get_msgs(r, 2, 1.5) if f[0] == 'MESSAGE']
    r.frame('SEND', [('destination', q2), ('reply-to', 'somewhere-else'), ('receipt', 'r5')], 'x')
    res['reply-to somewhere-else'] = show(get_msgs(r, 2, 1.5))
    r.close()
    return res


@scenario
def persistent_header(port):
    res = {}
    r, _ = connect(port, '1.2')
    q = '/queue/' + uniq('pers')
    subscribe(r, q)
    for p in (None, 'true', 'false', 'TRUE'):
        hs = [('destination', q)] + ([('persistent', p)] if p is not None else [])
        r.frame('SEND', hs, 'x')
        fs = get_msgs(r, 1, 1.5)
        res[repr(p)] = [dict(f[1]).get('persistent', '<none>') for f in fs]
    r.close()
    return res


@scenario
def expires_priority(port):
    res = {}
    q = '/queue/' + uniq('exp')
    r, _ = connect(port, '1.2')
    now = int(time.time() * 1000)
    r.frame('SEND', [('destination', q), ('expires', str(now - 1000)), ('receipt', 'e1')], 'expired')
    r.frame('SEND', [('destination', q), ('expires', str(now + 60000)), ('receipt', 'e2')], 'fresh')
    r.frame('SEND', [('destination', q), ('expires', '0'), ('receipt', 'e3')], 'never')
    res['send'] = show(r.read(2, n=3))
    subscribe(r, q)
    res['delivered'] = [(m[2].decode(), dict(m[1]).get('expires')) for m in get_msgs(r, 3, 1.5)]
    r.close()
    q = '/queue/' + uniq('prio')
    r, _ = connect(port, '1.2')
    for pr in ('1', '9', '4', '0', '7'):
        r.frame('SEND', [('destination', q), ('priority', pr), ('receipt', 'p' + pr)], 'p' + pr)
    r.read(2, n=5)
    time.sleep(0.3)
    subscribe(r, q)
    res['priority order'] = [(m[2].decode(), dict(m[1]).get('priority')) for m in get_msgs(r, 5, 2)]
    r.close()
    r, _ = connect(port, '1.2')
    r.frame('SEND', [('destination', q), ('priority', 'high'), ('receipt', 'px')], 'x')
    res['priority:high'] = after_error(r)
    r.close()
    r, _ = connect(port, '1.2')
    r.frame('SEND', [('destination', q), ('priority', '15'), ('receipt', 'px')], 'x')
    res['priority:15'] = show(r.read(1.5, n=1))
    r.close()
    r, _ = connect(port, '1.2')
    r.frame('SEND', [('destination', q), ('expires', 'soon'), ('receipt', 'px')], 'x')
    res['expires:soon'] = after_error(r)
    r.close()
    return res


@scenario
def stomppy_heartbeats(port):
    """stomp.py with heartbeats=(500,500): negotiated values and beats seen."""

    class L(stomp.ConnectionListener):
        def __init__(self):
            self.beats = 0
            self.connected = None
            self.timeouts = 0
            self.disc = False

        def on_connected(self, f):
            self.connected = dict(f.headers)

        def on_heartbeat(self):
            self.beats += 1

        def on_heartbeat_timeout(self):
            self.timeouts += 1

        def on_disconnected(self):
            self.disc = True

    c = stomp.Connection12([('127.0.0.1', port)], heartbeats=(500, 500), reconnect_attempts_max=1, vhost='/')
    l = L()
    c.set_listener('l', l)
    c.connect(USER, PASS, wait=True, headers={'host': '/'})
    time.sleep(3)
    res = {'connected heart-beat': (l.connected or {}).get('heart-beat'), 'beats in 3s': l.beats, 'timeouts': l.timeouts, 'disconnected': l.disc}
    c.disconnect()
    return res


@scenario
def plain_destination(port):
    """SEND/SUBSCRIBE to a name without a /prefix."""
    res = {}
    q = uniq('plain')
    r, _ = connect(port, '1.2')
    subscribe(r, '/queue/' + q)
    s, _ = connect(port, '1.2')
    s.frame('SEND', [('destination', q), ('receipt', 'x')], 'hello')
    res['SEND plain'] = show(s.read(2, n=1))
    res['received on /queue/<name>'] = show(get_msgs(r, 1, 1.5))
    s.frame('SUBSCRIBE', [('destination', q + 'x'), ('id', 'p'), ('receipt', 'rs')])
    res['SUBSCRIBE plain'] = show(s.read(2, n=1))
    r.close()
    s.close()
    return res


@scenario
def header_limits(port):
    """Exact header line length and header count limits."""
    res = {}
    for total in (8192, 8193, 10240, 10241, 10242):
        r, _ = connect(port, '1.2')
        r.send(b'SEND\ndestination:/queue/bigh\nreceipt:r\n' + b'x-h:' + b'y' * (total - 4) + b'\n\nbody\x00')
        f = r.read(3, n=1)
        res['line %d bytes' % total] = f[0][0] if f else ('closed' if r.closed else '-')
        r.close()
    for n in (128, 129, 1000, 1001, 1002):
        r, _ = connect(port, '1.2')
        hs = b''.join(b'h%d:v\n' % i for i in range(n - 2))
        r.send(b'SEND\ndestination:/queue/manyh\nreceipt:r\n' + hs + b'\nbody\x00')
        f = r.read(3, n=1)
        res['%d headers' % n] = f[0][0] if f else ('closed' if r.closed else '-')
        r.close()
    return res


def main():
    want = sys.argv[1:]
    for fn in SCEN:
        if want and not any(w in fn.__name__ for w in want):
            continue
        print('=' * 100)
        print('SCENARIO', fn.__name__)
        results = {}
        threads = []

        def run(name, port):
            try:
                results[name] = fn(int(port))
            except Exception as e:  # noqa
                import traceback
                results[name] = 'EXCEPTION %s' % traceback.format_exc(limit=3)
        for name, port in BROKERS:
            th = threading.Thread(target=run, args=(name, port))
            th.start()
            threads.append(th)
        for th in threads:
            th.join()
        keys = []
        for name, _ in BROKERS:
            if isinstance(results.get(name), dict):
                for k in results[name]:
                    if k not in keys:
                        keys.append(k)
        for k in keys or [None]:
            vals = {name: (results[name].get(k) if isinstance(results.get(name), dict) else results.get(name)) for name, _ in BROKERS}
            same = len({json.dumps(v, sort_keys=True, default=str) for v in vals.values()}) == 1
            print('--', k, '' if same else '   <<< DIFFERS')
            for name, _ in BROKERS:
                print('   %-7s %s' % (name, json.dumps(vals[name], default=str)))
        sys.stdout.flush()


if __name__ == '__main__':
    main()
