"""
A python3-qpid-proton (Debian) client for the AMQP interop tests. Prints one JSON document on stdout.

  proton_client.py send    <url> <address> <json-messages>      send, wait for every outcome
  proton_client.py receive <url> <address> <count> [selector]   receive and accept <count> messages
  proton_client.py txn     <url> <address> <commit|rollback> <n> send <n> messages in a transaction
  proton_client.py durable <url> <topic> <client-id> <sub> <count> [detach|close]
                                                               durable subscriber: receive <count>, then detach (keep) or close (remove)
  proton_client.py request <url> <service> <body>             request/reply through a dynamic reply queue
  proton_client.py abort   <url> <address>                     with a 512-byte max-frame-size: begin a 5000-byte
                                                               message, abort it after its first frames went out,
                                                               then send a whole one; wait for its outcome
  proton_client.py drain   <url> <address> <credit>            attach a receiver and drain <credit> at once (attach and
                                                               flow in one write); accept what comes until the broker's
                                                               flow has used the credit up
  proton_client.py release <url> <address>                     receive one message and release it, then receive it
                                                               again on a second link and accept it
  proton_client.py relay   <url> <json-messages>               send on an anonymous-relay link (null target), each
                                                               message to its "to"; wait for every outcome
  proton_client.py modify  <url> <address>                     send one annotated message; on link "first" settle it
                                                               modified (delivery-failed, with message-annotations),
                                                               then modified undeliverable-here (annotations again)
                                                               while "first" still has credit; accept it on "second"

<url> is amqp://host:port or amqps://host:port (CA from $PROTON_CA), optionally with user:password@.
"""
import json
import os
import sys

from proton import Delivery, Message, SSLDomain, symbol, ubyte, byte, short, ulong, char, float32, timestamp
from proton.handlers import MessagingHandler
from proton.reactor import Container, DurableSubscription, Selector


def ssl_domain():
    ca = os.environ.get("PROTON_CA")
    if not ca:
        return None
    d = SSLDomain(SSLDomain.MODE_CLIENT)
    d.set_trusted_ca_db(ca)
    d.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
    return d


def jsonable(v):
    if isinstance(v, bytes):
        return {"binary": v.hex()}
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (symbol, char)):
        return str(v)
    return v


def describe(m):
    return {
        "body": jsonable(m.body),
        "durable": m.durable,
        "priority": m.priority,
        "id": jsonable(m.id),
        "correlation_id": jsonable(m.correlation_id),
        "subject": m.subject,
        "reply_to": m.reply_to,
        "content_type": m.content_type,
        "properties": jsonable(m.properties or {}),
        "property_types": {str(k): type(x).__name__ for k, x in (m.properties or {}).items()},
        "annotations": jsonable(m.annotations or {}),
        "delivery_count": m.delivery_count,
    }


def typed(props):
    out = {}
    for k, v in (props or {}).items():
        if isinstance(v, dict) and len(v) == 1:
            (t, x), = v.items()
            out[k] = {"ubyte": ubyte, "byte": byte, "short": short, "ulong": ulong, "symbol": symbol, "float": float32, "long": int, "double": float, "char": char}[t](x)
        else:
            out[k] = v
    return out


class Base(MessagingHandler):
    def __init__(self, url, **kw):
        super().__init__(**kw)
        self.url = url
        self.result = {}
        self.error = None

    def connect(self, event):
        return event.container.connect(self.url, ssl_domain=ssl_domain(), allowed_mechs="PLAIN ANONYMOUS", allow_insecure_mechs=True, reconnect=False)

    def on_transport_error(self, event):
        self.error = str(event.transport.condition)

    def on_connection_error(self, event):
        self.error = str(event.connection.remote_condition)
        event.connection.close()

    def on_link_error(self, event):
        self.error = str(event.link.remote_condition)
        event.connection.close()


class Sender(Base):
    def __init__(self, url, address, messages):
        super().__init__(url)
        self.address = address
        self.messages = messages
        self.sent = 0
        self.outcomes = []

    def on_start(self, event):
        conn = self.connect(event)
        event.container.create_sender(conn, self.address)

    def on_sendable(self, event):
        while event.sender.credit and self.sent < len(self.messages):
            spec = self.messages[self.sent]
            m = Message(body=spec.get("body"), durable=spec.get("durable", True), priority=spec.get("priority", 4),
                        id=spec.get("id"), correlation_id=spec.get("correlation_id"), subject=spec.get("subject"),
                        reply_to=spec.get("reply_to"), content_type=spec.get("content_type"),
                        properties=typed(spec.get("properties")))
            if "binary" in spec:
                m.body = bytes.fromhex(spec["binary"])
            event.sender.send(m)
            self.sent += 1

    def settled(self, state, event):
        self.outcomes.append(state)
        if len(self.outcomes) == len(self.messages):
            self.result = {"outcomes": self.outcomes}
            event.connection.close()

    def on_accepted(self, event):
        self.settled("accepted", event)

    def on_rejected(self, event):
        self.settled("rejected", event)

    def on_released(self, event):
        self.settled("released", event)


class Receiver(Base):
    def __init__(self, url, address, count, selector=None):
        super().__init__(url, auto_accept=True)
        self.address = address
        self.count = count
        self.selector = selector
        self.got = []

    def on_start(self, event):
        conn = self.connect(event)
        opts = [Selector(self.selector)] if self.selector else None
        event.container.create_receiver(conn, self.address, options=opts)

    def on_message(self, event):
        self.got.append(describe(event.message))
        if len(self.got) == self.count:
            self.result = {"messages": self.got}
            event.receiver.close()
            event.connection.close()


class Txn(Base):
    def __init__(self, url, address, commit, n):
        super().__init__(url)
        self.address = address
        self.commit = commit
        self.n = n
        self.sent = 0
        self.txn = None
        self.sender = None

    def on_start(self, event):
        self.conn = self.connect(event)
        self.sender = event.container.create_sender(self.conn, self.address)
        event.container.declare_transaction(self.conn, handler=self)

    def on_transaction_declared(self, event):
        self.txn = event.transaction
        self.send()

    def on_sendable(self, event):
        self.send()

    def send(self):
        if not self.txn:
            return
        while self.sender.credit and self.sent < self.n:
            self.txn.send(self.sender, Message(body="txn %d" % self.sent, durable=True))
            self.sent += 1
        if self.sent == self.n:
            self.sent += 1
            if self.commit:
                self.txn.commit()
            else:
                self.txn.abort()

    def on_transaction_committed(self, event):
        self.result = {"discharged": "committed"}
        self.conn.close()

    def on_transaction_aborted(self, event):
        self.result = {"discharged": "aborted"}
        self.conn.close()

    def on_transaction_declare_failed(self, event):
        self.error = "declare failed"
        self.conn.close()

    def on_transaction_commit_failed(self, event):
        self.error = "commit failed"
        self.conn.close()


class Durable(Base):
    def __init__(self, url, topic, sub, count, end):
        super().__init__(url, auto_accept=True)
        self.topic = topic
        self.sub = sub
        self.count = count
        self.end = end
        self.got = []

    def on_start(self, event):
        conn = self.connect(event)
        self.receiver = event.container.create_receiver(conn, self.topic, name=self.sub, options=[DurableSubscription()])
        if self.count == 0:
            self.result = {"messages": []}

    def on_link_opened(self, event):
        if self.count == 0 and event.receiver:
            self.finish(event)

    def finish(self, event):
        if self.end == "close":
            self.receiver.close()
        else:
            self.receiver.detach()
        event.connection.close()

    def on_message(self, event):
        self.got.append(describe(event.message))
        if len(self.got) == self.count:
            self.result = {"messages": self.got}
            self.finish(event)


class Request(Base):
    def __init__(self, url, service, body):
        super().__init__(url)
        self.service = service
        self.body = body

    def on_start(self, event):
        self.conn = self.connect(event)
        self.sender = event.container.create_sender(self.conn, self.service)
        self.receiver = event.container.create_receiver(self.conn, None, dynamic=True)

    def on_link_opened(self, event):
        if event.receiver == self.receiver:
            self.reply_to = event.receiver.remote_source.address
            self.sender.send(Message(body=self.body, reply_to=self.reply_to, correlation_id="py-1"))

    def on_message(self, event):
        self.result = {"reply_to": self.reply_to, "reply": describe(event.message)}
        event.connection.close()


class Abort(Base):
    def __init__(self, url, address):
        super().__init__(url)
        self.address = address
        self.started = False
        self.outcomes = []

    def on_start(self, event):
        self.conn = event.container.connect(self.url, allowed_mechs="PLAIN ANONYMOUS", allow_insecure_mechs=True, reconnect=False, max_frame_size=512)
        self.sender = event.container.create_sender(self.conn, self.address)

    def on_sendable(self, event):
        if self.started:
            return
        self.started = True
        self.partial = self.sender.delivery("aborted-1")
        self.sender.stream(Message(body="A" * 5000, durable=True).encode()[:3000])
        # the reactor writes those frames before the timer fires: the abort then is a transfer of its own
        event.container.schedule(0.2, self)

    def on_timer_task(self, event):
        self.partial.abort()
        self.sender.send(Message(body="whole", durable=True))

    def settled(self, state, event):
        self.outcomes.append([event.delivery.tag, state])
        self.result = {"outcomes": self.outcomes}
        event.connection.close()

    def on_accepted(self, event):
        self.settled("accepted", event)

    def on_rejected(self, event):
        self.settled("rejected", event)

    def on_released(self, event):
        self.settled("released", event)


class Drain(Base):
    def __init__(self, url, address, credit):
        super().__init__(url, prefetch=0, auto_accept=True)
        self.address = address
        self.credit = credit
        self.got = []

    def on_start(self, event):
        self.conn = self.connect(event)
        self.receiver = event.container.create_receiver(self.conn, self.address)
        self.receiver.drain(self.credit)

    def on_message(self, event):
        self.got.append(event.message.body)

    def on_link_flow(self, event):
        if event.link == self.receiver and event.link.credit == 0 and not event.link.draining():
            self.result = {"messages": self.got, "credit": event.link.credit}
            self.conn.close()


class Release(Base):
    def __init__(self, url, address):
        super().__init__(url, prefetch=0, auto_accept=False, auto_settle=False)
        self.address = address
        self.got = []

    def on_start(self, event):
        self.conn = self.connect(event)
        event.container.create_receiver(self.conn, self.address, name="first").flow(1)

    def on_message(self, event):
        m = event.message
        self.got.append({"link": event.link.name, "body": m.body, "delivery_count": m.delivery_count, "first_acquirer": m.first_acquirer})
        if len(self.got) == 1:
            event.delivery.update(Delivery.RELEASED)
            event.delivery.settle()
            event.link.close()
            event.container.create_receiver(self.conn, self.address, name="second").flow(1)
        else:
            event.delivery.update(Delivery.ACCEPTED)
            event.delivery.settle()
            self.result = {"messages": self.got}
            self.conn.close()


class Relay(Sender):
    def on_start(self, event):
        conn = self.connect(event)
        event.container.create_sender(conn, None)

    def on_sendable(self, event):
        while event.sender.credit and self.sent < len(self.messages):
            spec = self.messages[self.sent]
            event.sender.send(Message(body=spec.get("body"), address=spec.get("to"), durable=True))
            self.sent += 1


class Modify(Base):
    def __init__(self, url, address):
        super().__init__(url, prefetch=0, auto_accept=False, auto_settle=False)
        self.address = address
        self.got = []

    def on_start(self, event):
        self.conn = self.connect(event)
        self.sender = event.container.create_sender(self.conn, self.address)
        self.first = event.container.create_receiver(self.conn, self.address, name="first")

    def on_sendable(self, event):
        if event.sender == self.sender and not getattr(self, "sent", False):
            self.sent = True
            self.sender.send(Message(body="annotated", durable=True, annotations={symbol("x-opt-origin"): "py", symbol("x-opt-n"): 1}))

    def on_accepted(self, event):
        if event.sender == self.sender:
            self.first.flow(1)

    def modify(self, delivery, failed, undeliverable, annotations):
        delivery.local.failed = failed
        delivery.local.undeliverable = undeliverable
        delivery.local.annotations = annotations
        delivery.update(Delivery.MODIFIED)
        delivery.settle()

    def on_message(self, event):
        m = event.message
        self.got.append({"link": event.link.name, "body": m.body, "delivery_count": m.delivery_count,
                         "first_acquirer": m.first_acquirer, "annotations": jsonable(m.annotations or {})})
        if len(self.got) == 1:
            self.modify(event.delivery, True, False, {symbol("x-opt-n"): 2, symbol("x-opt-why"): "retry"})
            self.first.flow(1)
        elif len(self.got) == 2:
            # "first" keeps a credit: the message may only go to "second" (undeliverable-here)
            self.modify(event.delivery, False, True, {symbol("x-opt-hop"): "first"})
            self.first.flow(1)
            event.container.create_receiver(self.conn, self.address, name="second").flow(1)
        else:
            event.delivery.update(Delivery.ACCEPTED)
            event.delivery.settle()
            self.result = {"messages": self.got}
            self.conn.close()


def blocking_hello(url, address):
    # Proton's examples/python/helloworld_blocking.py: a receiver and a sender of one address on one
    # BlockingConnection, which names both links "<container id>-<address>" (legal: AMQP 1.0 §2.6.1 makes a
    # name unique per direction only)
    from proton.utils import BlockingConnection
    conn = BlockingConnection(url, ssl_domain=ssl_domain(), allowed_mechs="PLAIN ANONYMOUS", allow_insecure_mechs=True)
    try:
        receiver = conn.create_receiver(address)
        sender = conn.create_sender(address)
        sender.send(Message(body="Hello World!"))
        msg = receiver.receive(timeout=10)
        receiver.accept()
        return {"sender": sender.link.name, "receiver": receiver.link.name, "body": msg.body}
    finally:
        conn.close()


def main():
    cmd, url = sys.argv[1], sys.argv[2]
    a = sys.argv[3:]
    if cmd == "hello":
        print(json.dumps(blocking_hello(url, a[0])))
        return
    if cmd == "send":
        h = Sender(url, a[0], json.loads(a[1]))
    elif cmd == "receive":
        h = Receiver(url, a[0], int(a[1]), a[2] if len(a) > 2 else None)
    elif cmd == "txn":
        h = Txn(url, a[0], a[1] == "commit", int(a[2]))
    elif cmd == "durable":
        h = Durable(url, a[0], a[2], int(a[3]), a[4] if len(a) > 4 else "detach")
        c = Container(h)
        c.container_id = a[1]
        c.run()
        finish(h)
        return
    elif cmd == "request":
        h = Request(url, a[0], a[1])
    elif cmd == "abort":
        h = Abort(url, a[0])
    elif cmd == "drain":
        h = Drain(url, a[0], int(a[1]))
    elif cmd == "release":
        h = Release(url, a[0])
    elif cmd == "relay":
        h = Relay(url, None, json.loads(a[0]))
    elif cmd == "modify":
        h = Modify(url, a[0])
    else:
        raise SystemExit("unknown command " + cmd)
    Container(h).run()
    finish(h)


def finish(h):
    if h.error:
        print(json.dumps({"error": h.error}))
        sys.exit(1)
    print(json.dumps(h.result))


if __name__ == "__main__":
    main()
