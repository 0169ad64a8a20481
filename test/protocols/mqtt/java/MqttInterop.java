/*
 * Drives Wharf with the FuseSource MQTT client (Debian libmqtt-client-java, org.fusesource.mqtt.client) through its
 * BlockingConnection API, MQTT 3.1.1. Compiled and run by ../interop-java.test.ts, which plays the MQTT.js side
 * (answering on jv/ctl/* topics) and asserts on the JSON lines printed here, one per step:
 *
 *   java -cp <jars>:<classes> MqttInterop <host> <port> <scenario>...
 *
 * Scenarios, run in the order given: "main" (authentication, wildcards, QoS 0/1/2 both ways, retained messages,
 * unsubscribe, a persistent session that gets messages published while it was away) and "will" (a will not sent
 * after a clean DISCONNECT; then a connection with a will that waits, printing {"step":"ready"}, for the test to
 * kill this process).
 *
 * The client's Message does not tell QoS or RETAIN, so a Tracer records every PUBLISH (and CONNACK) frame the
 * client receives, and each received Message is matched to its frame.
 */
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.fusesource.hawtbuf.Buffer;
import org.fusesource.mqtt.client.BlockingConnection;
import org.fusesource.mqtt.client.MQTT;
import org.fusesource.mqtt.client.Message;
import org.fusesource.mqtt.client.QoS;
import org.fusesource.mqtt.client.Topic;
import org.fusesource.mqtt.client.Tracer;
import org.fusesource.mqtt.codec.CONNACK;
import org.fusesource.mqtt.codec.MQTTFrame;
import org.fusesource.mqtt.codec.PINGREQ;
import org.fusesource.mqtt.codec.PINGRESP;
import org.fusesource.mqtt.codec.PUBLISH;

public class MqttInterop {
  static String host;
  static int port;
  static final String USER = "java";
  static final String PASSWORD = "s3cret";

  // ------------------------------------------------------------------ JSON output

  static String q(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"': b.append("\\\""); break;
        case '\\': b.append("\\\\"); break;
        case '\n': b.append("\\n"); break;
        case '\r': b.append("\\r"); break;
        case '\t': b.append("\\t"); break;
        default:
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
          else b.append(c);
      }
    }
    return b.append('"').toString();
  }

  static synchronized void out(String json) {
    System.out.println(json);
    System.out.flush();
  }

  // ------------------------------------------------------------------ client with a frame tracer

  static class Traced extends Tracer {
    final List<PUBLISH> publishes = new ArrayList<>();
    volatile int sessionPresent = -1;
    volatile int connackCode = -1;
    volatile int pingReqs = 0;
    volatile int pingResps = 0;

    @Override
    public void onSend(MQTTFrame frame) {
      if (frame.messageType() == PINGREQ.TYPE) pingReqs++;
    }

    @Override
    public void onReceive(MQTTFrame frame) {
      try {
        if (frame.messageType() == PUBLISH.TYPE) {
          PUBLISH p = new PUBLISH().decode(frame);
          synchronized (publishes) {
            publishes.add(p);
          }
        } else if (frame.messageType() == PINGRESP.TYPE) {
          pingResps++;
        } else if (frame.messageType() == CONNACK.TYPE) {
          Buffer b = frame.buffers[0];
          sessionPresent = b.get(0) & 1;
          connackCode = b.get(1) & 0xff;
        }
      } catch (Exception e) {
        out("{\"step\":\"traceError\",\"error\":" + q(String.valueOf(e)) + "}");
      }
    }

    /** The traced PUBLISH frame of a received message (first unmatched one with its topic and payload). */
    PUBLISH frameOf(String topic, byte[] payload) {
      synchronized (publishes) {
        for (Iterator<PUBLISH> it = publishes.iterator(); it.hasNext(); ) {
          PUBLISH p = it.next();
          if (p.topicName().toString().equals(topic) && Arrays.equals(p.payload().toByteArray(), payload)) {
            it.remove();
            return p;
          }
        }
      }
      return null;
    }
  }

  static class Client {
    final String id;
    final MQTT mqtt = new MQTT();
    final Traced tracer = new Traced();
    BlockingConnection conn;

    Client(String id, boolean clean, String user, String password) throws Exception {
      this.id = id;
      mqtt.setHost(host, port);
      mqtt.setVersion("3.1.1");
      mqtt.setClientId(id);
      mqtt.setCleanSession(clean);
      mqtt.setKeepAlive((short) 30);
      if (user != null) mqtt.setUserName(user);
      if (password != null) mqtt.setPassword(password);
      // fail instead of retrying forever
      mqtt.setConnectAttemptsMax(1);
      mqtt.setReconnectAttemptsMax(0);
      mqtt.setTracer(tracer);
    }

    Client connect() throws Exception {
      conn = mqtt.blockingConnection();
      conn.connect();
      return this;
    }

    String subscribe(Topic... topics) throws Exception {
      byte[] granted = conn.subscribe(topics);
      StringBuilder b = new StringBuilder("[");
      for (int i = 0; i < granted.length; i++) b.append(i > 0 ? "," : "").append(granted[i]);
      return b.append(']').toString();
    }

    void publish(String topic, String payload, int qos, boolean retain) throws Exception {
      conn.publish(topic, payload.getBytes("UTF-8"), QoS.values()[qos], retain);
    }

    /** One received message as JSON, acknowledged; null when none arrived within ms. */
    String receive(long ms) throws Exception {
      return receive(ms, true);
    }

    /** One received message as JSON, acknowledged (PUBACK / PUBREC) only if ack; null when none arrived within ms. */
    String receive(long ms, boolean ack) throws Exception {
      Message m = conn.receive(ms, TimeUnit.MILLISECONDS);
      if (m == null) return null;
      String topic = m.getTopic();
      byte[] payload = m.getPayload();
      if (ack) m.ack();
      PUBLISH f = tracer.frameOf(topic, payload);
      return "{\"topic\":" + q(topic) + ",\"payload\":" + q(new String(payload, "UTF-8"))
          + ",\"qos\":" + (f == null ? -1 : f.qos().ordinal())
          + ",\"retain\":" + (f != null && f.retain())
          + ",\"dup\":" + (f != null && f.dup()) + "}";
    }

    /** Messages until n arrived (or one with payload `last`), or ms passed. */
    String receiveMany(int n, String last, long ms) throws Exception {
      long end = System.currentTimeMillis() + ms;
      List<String> got = new ArrayList<>();
      while (got.size() < n) {
        long left = end - System.currentTimeMillis();
        if (left <= 0) break;
        String m = receive(left);
        if (m == null) break;
        got.add(m);
        if (last != null && m.contains(",\"payload\":" + q(last) + ",")) break;
      }
      return "[" + String.join(",", got) + "]";
    }

    void disconnect() throws Exception {
      conn.disconnect();
    }
  }

  // ------------------------------------------------------------------ scenarios

  static void main_() throws Exception {
    // a wrong password is refused with the 3.1.1 return code 4
    Client bad = new Client("java-bad", true, USER, "wrong");
    try {
      bad.connect();
      out("{\"step\":\"badPassword\",\"connected\":true}");
      bad.disconnect();
    } catch (Exception e) {
      out("{\"step\":\"badPassword\",\"connected\":false,\"connack\":" + bad.tracer.connackCode + ",\"error\":" + q(String.valueOf(e.getMessage())) + "}");
    }

    Client c = new Client("java-main", true, USER, PASSWORD).connect();
    out("{\"step\":\"connect\",\"connack\":" + c.tracer.connackCode + ",\"sessionPresent\":" + c.tracer.sessionPresent + "}");

    // wildcards: # and +
    String granted = c.subscribe(new Topic("jv/self/#", QoS.EXACTLY_ONCE), new Topic("jv/+/fromjs", QoS.EXACTLY_ONCE));
    // (isConnected() is set on the client's dispatch queue a little after connect() returns: read it here)
    out("{\"step\":\"subscribe\",\"granted\":" + granted + ",\"connected\":" + c.conn.isConnected() + "}");

    // QoS 0/1/2 to itself (MQTT.js subscribes to jv/self/# too)
    for (int i = 0; i < 3; i++) c.publish("jv/self/q" + i, "java-q" + i, i, false);
    out("{\"step\":\"self\",\"msgs\":" + c.receiveMany(3, null, 5000) + "}");

    // MQTT.js answers jv/ctl/ready with QoS 0/1/2 messages on jv/{a,b,c}/fromjs (one on jv/a/b/fromjs, which
    // jv/+/fromjs does not match) and ends with js-end
    c.publish("jv/ctl/ready", "go", 1, false);
    out("{\"step\":\"fromJs\",\"msgs\":" + c.receiveMany(10, "js-end", 5000) + "}");

    // retained: one set by MQTT.js before this run (jv/ret/js), one set here; both arrive on subscribe with RETAIN
    c.publish("jv/ret/java", "kept-by-java", 1, true);
    // (kept for MQTT.js to read after this run, QoS 2)
    c.publish("jv/kept/java", "kept-q2-by-java", 2, true);
    String rg = c.subscribe(new Topic("jv/ret/+", QoS.AT_LEAST_ONCE));
    out("{\"step\":\"retained\",\"granted\":" + rg + ",\"msgs\":" + c.receiveMany(2, null, 5000) + "}");
    // a live message on that subscription: no RETAIN flag
    c.publish("jv/ret/live", "live", 1, false);
    out("{\"step\":\"live\",\"msgs\":" + c.receiveMany(1, null, 5000) + "}");

    // after UNSUBSCRIBE nothing more on jv/ret/+; jv/self/# still works
    c.conn.unsubscribe(new String[] {"jv/ret/+"});
    c.publish("jv/ret/after", "after-unsub", 1, false);
    c.publish("jv/self/after", "still-subscribed", 1, false);
    out("{\"step\":\"unsubscribe\",\"msgs\":" + c.receiveMany(2, null, 500) + "}");

    // a retained message cleared by an empty retained PUBLISH: only jv/ret/js is left
    c.publish("jv/ret/java", "", 1, true);
    c.subscribe(new Topic("jv/ret/+", QoS.AT_LEAST_ONCE));
    out("{\"step\":\"retainedCleared\",\"msgs\":" + c.receiveMany(2, null, 500) + "}");
    c.conn.unsubscribe(new String[] {"jv/ret/+"});

    // UTF-8 topic and payload, and a 300 KB payload (multi-byte remaining length), QoS 1 and 2, to itself
    String utf = "h\u00e9llo w\u00f6rld \u65e5\u672c\u8a9e \ud83d\ude80";
    c.publish("jv/self/\u00fcml\u00e4ut/\u65e5\u672c", utf, 1, false);
    StringBuilder big = new StringBuilder();
    for (int i = 0; big.length() < 300_000; i++) big.append("block-").append(i).append(';');
    c.publish("jv/self/big", big.toString(), 2, false);
    Message m1 = c.conn.receive(5, TimeUnit.SECONDS);
    Message m2 = c.conn.receive(5, TimeUnit.SECONDS);
    String utfGot = "null", bigGot = "null";
    for (Message m : new Message[] {m1, m2}) {
      if (m == null) continue;
      m.ack();
      String payload = new String(m.getPayload(), "UTF-8");
      if (m.getTopic().equals("jv/self/big")) bigGot = "{\"length\":" + m.getPayload().length + ",\"same\":" + payload.equals(big.toString()) + "}";
      else utfGot = "{\"topic\":" + q(m.getTopic()) + ",\"same\":" + payload.equals(utf) + "}";
    }
    out("{\"step\":\"payloads\",\"utf\":" + utfGot + ",\"big\":" + bigGot + "}");
    c.disconnect();
    out("{\"step\":\"disconnect\",\"connected\":" + c.conn.isConnected() + "}");

    // keep alive 1 s: idle for 1.6 s, PINGREQ answered, still connected and working
    Client k = new Client("java-keepalive", true, USER, PASSWORD);
    k.mqtt.setKeepAlive((short) 1);
    k.connect();
    k.subscribe(new Topic("jv/keepalive", QoS.AT_LEAST_ONCE));
    Thread.sleep(1600);
    k.publish("jv/keepalive", "alive", 1, false);
    String alive = k.receive(3000);
    out("{\"step\":\"keepAlive\",\"pingReqs\":" + k.tracer.pingReqs + ",\"pingResps\":" + k.tracer.pingResps + ",\"connected\":" + k.conn.isConnected() + ",\"msg\":" + (alive == null ? "null" : alive) + "}");
    k.disconnect();

    // an empty client id with cleanSession=true (the client itself refuses one with cleanSession=false)
    Client anon = new Client("", true, USER, PASSWORD);
    String anonResult;
    try {
      anon.connect();
      anon.subscribe(new Topic("jv/anon", QoS.AT_LEAST_ONCE));
      anon.publish("jv/anon", "anon", 1, false);
      String a = anon.receive(3000);
      anon.disconnect();
      anonResult = "{\"connected\":true,\"connack\":" + anon.tracer.connackCode + ",\"msg\":" + (a == null ? "null" : a) + "}";
    } catch (Exception e) {
      anonResult = "{\"connected\":false,\"connack\":" + anon.tracer.connackCode + ",\"error\":" + q(String.valueOf(e.getMessage())) + "}";
    }
    out("{\"step\":\"emptyClientId\",\"clean\":" + anonResult + "}");

    // $SYS: served on subscribe to $SYS/broker/+, never matched by # (MQTT 4.7.2)
    Client sys = new Client("java-sys", true, USER, PASSWORD).connect();
    String sysGranted = sys.subscribe(new Topic("#", QoS.AT_MOST_ONCE), new Topic("$SYS/broker/+", QoS.AT_MOST_ONCE));
    sys.publish("jv/sys/mark", "mark", 1, false);
    String sysMsgs = sys.receiveMany(100, "mark", 3000);
    sys.disconnect();
    out("{\"step\":\"sys\",\"granted\":" + sysGranted + ",\"msgs\":" + sysMsgs + "}");

    // session takeover: a second connection with the same client id closes the first
    Client t1 = new Client("java-takeover", true, USER, PASSWORD).connect();
    t1.subscribe(new Topic("jv/takeover", QoS.AT_LEAST_ONCE));
    Client t2 = new Client("java-takeover", true, USER, PASSWORD).connect();
    long until = System.currentTimeMillis() + 3000;
    while (t1.conn.isConnected() && System.currentTimeMillis() < until) Thread.sleep(20);
    boolean firstConnected = t1.conn.isConnected();
    t2.subscribe(new Topic("jv/takeover", QoS.AT_LEAST_ONCE));
    t2.publish("jv/takeover", "to-second", 1, false);
    String second = t2.receive(3000);
    t2.disconnect();
    out("{\"step\":\"takeover\",\"firstConnected\":" + firstConnected + ",\"secondGot\":" + second + "}");

    // QoS 1 and 2 messages received but not acknowledged are sent again (DUP) when the persistent session resumes
    Client r = new Client("java-redeliver", false, USER, PASSWORD).connect();
    r.subscribe(new Topic("jv/redeliver/+", QoS.EXACTLY_ONCE));
    r.publish("jv/redeliver/q1", "unacked-q1", 1, false);
    r.publish("jv/redeliver/q2", "unacked-q2", 2, false);
    String first = "[" + r.receive(3000, false) + "," + r.receive(3000, false) + "]";
    r.disconnect();
    Client r2 = new Client("java-redeliver", false, USER, PASSWORD).connect();
    String resent = r2.receiveMany(2, null, 5000);
    String more = r2.receive(300);
    r2.disconnect();
    Client r3 = new Client("java-redeliver", false, USER, PASSWORD).connect();
    String third = r3.receive(500);
    r3.disconnect();
    new Client("java-redeliver", true, USER, PASSWORD).connect().disconnect();
    out("{\"step\":\"redeliver\",\"first\":" + first + ",\"again\":" + resent + ",\"more\":" + more + ",\"third\":" + third + "}");

    // persistent session: subscribe with cleanSession=false, leave, messages are published, come back
    Client p = new Client("java-persist", false, USER, PASSWORD).connect();
    int firstPresent = p.tracer.sessionPresent;
    String pg = p.subscribe(new Topic("jv/persist/#", QoS.EXACTLY_ONCE));
    p.disconnect();
    Client pub = new Client("java-pub", true, USER, PASSWORD).connect();
    pub.subscribe(new Topic("jv/ctl/done", QoS.AT_LEAST_ONCE));
    for (int i = 0; i < 2; i++) pub.publish("jv/persist/java", "away-q1-" + i, 1, false);
    pub.publish("jv/persist/java", "away-q2", 2, false);
    // MQTT.js answers with two QoS 1 messages on jv/persist/js, then jv/ctl/done
    pub.publish("jv/ctl/away", "publish-now", 1, false);
    String done = pub.receive(5000);
    pub.disconnect();
    Client back = new Client("java-persist", false, USER, PASSWORD).connect();
    int backPresent = back.tracer.sessionPresent;
    String queued = back.receiveMany(5, null, 5000);
    String extra = back.receive(300);
    back.disconnect();
    // cleanSession=true ends the session
    Client clean = new Client("java-persist", true, USER, PASSWORD).connect();
    int cleanPresent = clean.tracer.sessionPresent;
    clean.disconnect();
    Client again = new Client("java-persist", false, USER, PASSWORD).connect();
    int againPresent = again.tracer.sessionPresent;
    again.disconnect();
    out("{\"step\":\"persistent\",\"granted\":" + pg + ",\"firstPresent\":" + firstPresent + ",\"done\":" + (done != null)
        + ",\"backPresent\":" + backPresent + ",\"msgs\":" + queued + ",\"extra\":" + (extra == null ? "null" : extra)
        + ",\"cleanPresent\":" + cleanPresent + ",\"againPresent\":" + againPresent + "}");
  }

  static void will() throws Exception {
    Client polite = new Client("java-polite", true, USER, PASSWORD);
    polite.mqtt.setWillTopic("jv/will/polite");
    polite.mqtt.setWillMessage("polite-gone");
    polite.mqtt.setWillQos(QoS.AT_LEAST_ONCE);
    polite.connect();
    polite.disconnect();
    out("{\"step\":\"polite\",\"disconnected\":true}");

    Client killed = new Client("java-killed", true, USER, PASSWORD);
    killed.mqtt.setWillTopic("jv/will/killed");
    killed.mqtt.setWillMessage("killed-gone");
    killed.mqtt.setWillQos(QoS.AT_LEAST_ONCE);
    killed.mqtt.setWillRetain(true);
    killed.connect();
    out("{\"step\":\"ready\"}");
    // the test kills this process now
    Thread.sleep(30_000);
    out("{\"step\":\"notKilled\"}");
  }

  public static void main(String[] args) throws Exception {
    host = args[0];
    port = Integer.parseInt(args[1]);
    try {
      for (int i = 2; i < args.length; i++) {
        if (args[i].equals("main")) main_();
        else if (args[i].equals("will")) will();
        else throw new IllegalArgumentException("unknown scenario " + args[i]);
      }
      out("{\"step\":\"end\"}");
    } catch (Throwable t) {
      out("{\"step\":\"error\",\"error\":" + q(String.valueOf(t)) + "}");
      t.printStackTrace();
      System.exit(1);
    }
    System.exit(0);
  }
}
