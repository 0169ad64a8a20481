"""
stomp.py (Debian python3-stomp 8.0) over WebSocket with Debian's python3-websocket (websocket-client), driven by
test/protocols/stomp/interop-ws.test.ts.

    /usr/bin/python3 stomp_ws_client.py <ws port>

Debian's stomp.py 8.0 has no WebSocket transport (8.1 added WSStompConnection), so this file supplies one with
the same contract 8.1's has: the handshake offers no Sec-WebSocket-Protocol, and each received message must be a
text message (8.1 calls recv().encode(), which fails on the bytes of a binary message). Everything above the
transport (frame encoding, parsing, heart-beats, listeners, receipts) is stomp.py's own. Prints one JSON object;
{"error": "<traceback>"} on failure.
"""
import json
import sys
import threading
import traceback

import websocket
from stomp.connect import BaseConnection
from stomp.listener import ConnectionListener
from stomp.protocol import Protocol12
from stomp.transport import BaseTransport

PORT = int(sys.argv[1])
TIMEOUT = 5.0


class WsTransport(BaseTransport):
    def __init__(self, url):
        BaseTransport.__init__(self)
        self.url = url
        self.socket = None
        self.current_host_and_port = ('127.0.0.1', PORT)  # Protocol12.connect sends it as the host header
        self.vhost = None
        self.kinds = []  # the opcode of every message received

    def is_connected(self):
        return self.socket is not None and BaseTransport.is_connected(self)

    def attempt_connection(self):
        self.socket = websocket.create_connection(self.url)  # no subprotocol offered

    def send(self, encoded_frame):
        self.socket.send(encoded_frame)

    def receive(self):
        opcode, data = self.socket.recv_data()
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return None
        self.kinds.append('text' if opcode == websocket.ABNF.OPCODE_TEXT else 'binary')
        if opcode != websocket.ABNF.OPCODE_TEXT:
            raise RuntimeError('binary WebSocket message: stomp.py 8.1 WSTransport cannot decode it')
        return data

    def cleanup(self):
        try:
            self.socket.close()
        except Exception:
            pass
        self.socket = None

    def disconnect_socket(self):
        self.running = False
        self.cleanup()
        if not self.notified_on_disconnect:
            self.notify('disconnected')


class WsConnection12(BaseConnection, Protocol12):
    def __init__(self, url):
        transport = WsTransport(url)
        BaseConnection.__init__(self, transport)
        Protocol12.__init__(self, transport, (0, 0))

    def connect(self, *args, **kwargs):
        self.transport.start()
        Protocol12.connect(self, *args, **kwargs)


class Listener(ConnectionListener):
    def __init__(self):
        self.cv = threading.Condition()
        self.messages = []
        self.receipts = []
        self.errors = []

    def on_message(self, frame):
        with self.cv:
            self.messages.append(frame.body)
            self.cv.notify_all()

    def on_receipt(self, frame):
        with self.cv:
            self.receipts.append(frame.headers.get('receipt-id'))
            self.cv.notify_all()

    def on_error(self, frame):
        with self.cv:
            self.errors.append(frame.headers.get('message'))
            self.cv.notify_all()

    def wait(self, cond):
        with self.cv:
            if not self.cv.wait_for(cond, TIMEOUT):
                raise TimeoutError('timed out; messages=%r receipts=%r errors=%r' % (self.messages, self.receipts, self.errors))


def main():
    conn = WsConnection12('ws://127.0.0.1:%d/' % PORT)
    lis = Listener()
    conn.set_listener('l', lis)
    conn.connect(wait=True)
    conn.subscribe('/queue/py.ws', id='1', ack='auto', receipt='sub')
    lis.wait(lambda: 'sub' in lis.receipts)
    bodies = ['plain', 'héllo wörld — 日本語 🚀✓', 'x' * 70000]
    for i, body in enumerate(bodies):
        conn.send('/queue/py.ws', body, receipt='s%d' % i)
    lis.wait(lambda: len(lis.messages) == len(bodies) and 's2' in lis.receipts)
    conn.disconnect(receipt='bye')
    print(json.dumps({
        'messages': [m if len(m) < 100 else 'x*%d' % len(m) for m in lis.messages],
        'receipts': lis.receipts,
        'errors': lis.errors,
        'kinds': sorted(set(conn.transport.kinds)),
    }))


if __name__ == '__main__':
    try:
        main()
    except Exception:
        print(json.dumps({'error': traceback.format_exc()}))
        sys.exit(1)
