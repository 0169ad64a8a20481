"""
python3-qpid-proton against a Wharf cluster, with the reactor's own reconnect over a list of node URLs
(test/cluster/cluster-jms.test.ts):

  proton_failover.py produce <url,url,...> <address> <count> <pause-ms>
      sends durable messages m0..m<count-1> one at a time, printing "ACCEPTED i" once the broker accepted each;
      a send whose outcome was lost with the connection is sent again after the reconnect
  proton_failover.py consume <url,url,...> <address> <count> <timeout-s>
      receives and accepts until it has seen every m0..m<count-1>, printing "GOT <body>" per delivery

Both print "READY" once their link is attached.
"""
import sys
import time

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container


def say(line):
    print(line, flush=True)


class Producer(MessagingHandler):
    def __init__(self, urls, address, count, pause):
        super().__init__()
        self.urls, self.address, self.count, self.pause = urls, address, count, pause
        self.next = 0
        self.outstanding = None
        self.sender = None
        self.ready = False

    def on_start(self, event):
        conn = event.container.connect(urls=self.urls, reconnect=[0.1, 0.2, 0.4, 0.8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
        self.sender = event.container.create_sender(conn, self.address)

    def on_link_opened(self, event):
        if event.link == self.sender and not self.ready:
            self.ready = True
            say("READY")

    def on_sendable(self, event):
        self.send_next(event)

    def send_next(self, event):
        if self.outstanding is not None or self.next >= self.count or self.sender.credit <= 0:
            return
        i = self.next
        self.outstanding = (self.sender.send(Message(body="m%d" % i, durable=True)), i)

    def on_accepted(self, event):
        if self.outstanding is None or event.delivery != self.outstanding[0]:
            return
        i = self.outstanding[1]
        self.outstanding = None
        say("ACCEPTED %d" % i)
        self.next = i + 1
        if self.next >= self.count:
            event.connection.close()
            return
        if self.pause:
            time.sleep(self.pause / 1000.0)
        self.send_next(event)

    def on_rejected(self, event):
        say("REJECTED %s" % (event.delivery.remote.condition,))
        self.outstanding = None

    def on_released(self, event):
        self.outstanding = None
        self.send_next(event)

    def on_disconnected(self, event):
        # the outcome of the send in flight is unknown: it goes again after the reconnect (at least once)
        self.outstanding = None


class Closer:
    def __init__(self, connection):
        self.connection = connection

    def on_timer_task(self, event):
        self.connection.close()
        event.container.stop()


class Consumer(MessagingHandler):
    def __init__(self, urls, address, count, timeout):
        super().__init__()
        self.urls, self.address, self.count, self.timeout = urls, address, count, timeout
        self.seen = set()
        self.ready = False
        self.done = False

    def on_start(self, event):
        conn = event.container.connect(urls=self.urls, reconnect=[0.1, 0.2, 0.4, 0.8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
        self.receiver = event.container.create_receiver(conn, self.address)
        event.container.schedule(self.timeout, self)

    def on_timer_task(self, event):
        if not self.done:
            say("TIMEOUT")
            event.container.stop()

    def on_link_opened(self, event):
        if event.link == self.receiver and not self.ready:
            self.ready = True
            say("READY")

    def on_message(self, event):
        body = event.message.body
        say("GOT %s" % body)
        try:
            i = int(str(body)[1:])
        except ValueError:
            return
        if 0 <= i < self.count:
            self.seen.add(i)
        if len(self.seen) == self.count and not self.done:
            # stop once the last delivery's accept (MessagingHandler's, after this returns) has gone out
            self.done = True
            event.container.schedule(0.5, Closer(event.connection))


def main():
    mode, urls, address, count, arg = sys.argv[1], sys.argv[2].split(","), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    handler = Producer(urls, address, count, arg) if mode == "produce" else Consumer(urls, address, count, arg)
    Container(handler).run()
    say("DONE")


if __name__ == "__main__":
    main()
