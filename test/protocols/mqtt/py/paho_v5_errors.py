"""Drive Wharf with Debian's python3-paho-mqtt (1.6.x, MQTT 5) into protocol errors; print one JSON line for mocha.

Usage: paho_v5_errors.py <scenario> <host> <port>
  wildtopic      PUBLISH to a topic name with a wildcard
  emptytopic     PUBLISH with a zero-length topic name and no Topic Alias
  takeover       a second client connects with the same client id: the first one's DISCONNECT
  shutdown       connect, print "connected", and wait (up to 20 s) for the server's DISCONNECT
  willqos3 <5|311>  CONNECT with a will of QoS 3 (paho's will_set refuses it: set on the client after will_set)
paho's own publish() refuses the first two, so the packet is written by paho's internal _send_publish. The result is the
server's DISCONNECT as paho reports it to on_disconnect (paho 1.6 reports its reason code only when the packet
has properties; otherwise it reports 7, connection lost).
Exit status 0 even on failed expectations: mocha asserts the JSON.
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt

scenario, HOST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])

connected = threading.Event()
gone = threading.Event()
result = {}


def on_connect(c, u, flags, rc, properties=None):
    result['connack'] = int(rc.value)
    connected.set()


def on_disconnect(c, u, rc, properties=None):
    # the first call is the server's DISCONNECT (a ReasonCodes), or the lost socket (an int)
    if 'disconnect' not in result:
        result['disconnect'] = {'rc': int(rc.value) if hasattr(rc, 'value') else rc,
                                'reasonString': getattr(properties, 'ReasonString', None) if properties is not None else None}
    gone.set()


def started(client_id, protocol=mqtt.MQTTv5, before_connect=None):
    """A client reporting to on_connect/on_disconnect, connected with its network loop running."""
    c = mqtt.Client(client_id=client_id, protocol=protocol)
    c.on_connect = on_connect
    c.on_disconnect = on_disconnect
    if before_connect:
        before_connect(c)
    c.connect(HOST, PORT, keepalive=30)
    c.loop_start()
    return c


if scenario == 'shutdown':
    c = started('paho-err-shutdown')
    connected.wait(5)
    print('connected', flush=True)
    gone.wait(20)
    c.loop_stop()
    print(json.dumps(result), flush=True)
    sys.exit(0)

if scenario == 'takeover':
    c = started('paho-err-takeover')
    connected.wait(5)
    second = mqtt.Client(client_id='paho-err-takeover', protocol=mqtt.MQTTv5)
    second.connect(HOST, PORT, keepalive=30)
    second.loop_start()
    gone.wait(5)
    c.loop_stop()
    second.disconnect()
    second.loop_stop()
    print(json.dumps(result), flush=True)
    sys.exit(0)

if scenario == 'willqos3':
    def will_qos3(c):
        c.will_set('paho-err/will', 'will', qos=2)
        c._will_qos = 3

    c = started('paho-err-willqos3-' + sys.argv[4], mqtt.MQTTv5 if sys.argv[4] == '5' else mqtt.MQTTv311, will_qos3)
    gone.wait(5)
    c.loop_stop()
    print(json.dumps(result), flush=True)
    sys.exit(0)

c = started('paho-err-' + scenario)
if not connected.wait(5):
    print(json.dumps({'error': 'no CONNACK'}), flush=True)
    sys.exit(0)
topic = {'wildtopic': b'dt/+/x', 'emptytopic': b''}[scenario]
mid = c._mid_generate()
c._send_publish(mid, topic, b'x', 0, info=mqtt.MQTTMessageInfo(mid))
gone.wait(5)
c.loop_stop()
print(json.dumps(result), flush=True)
