// The JMS side of the cross-protocol matrix (test/interop/matrix.test.ts), on ActiveMQ's own client:
//   java MatrixJms <port> send   < cases    one line per case, TAB-separated key=value (strings hex-encoded UTF-8)
//   java MatrixJms <port> recv   < dests    one line per destination: id TAB queue|topic TAB hex(name); prints READY,
//                                           then one JSON line per message, then DONE
//   java MatrixJms <port> request < kind TAB hex(name) TAB temp|topic TAB hex(reply topic): a request with JMSReplyTo
//                                           (a temporary queue or that topic); prints the reply as JSON
//   java MatrixJms <port> respond < kind TAB hex(name): prints READY, takes one request, prints its JMSReplyTo,
//                                           replies to it with the request's JMSCorrelationID
//   java MatrixJms <port> forward < kind TAB hex(name) TAB kind TAB hex(name): prints READY, takes one message, sends
//                                           that message object on to the second destination
//   java MatrixJms <port> abandon < kind TAB hex(name): takes one message (CLIENT_ACKNOWLEDGE), closes without acking
import java.nio.charset.StandardCharsets;
import java.util.*;
import javax.jms.*;
import org.apache.activemq.ActiveMQConnectionFactory;

public class MatrixJms {
    static String unhex(String h) { return new String(bytes(h), StandardCharsets.UTF_8); }

    static byte[] bytes(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        return b;
    }

    static Destination dest(Session s, String kind, String name) throws JMSException {
        return kind.equals("topic") ? s.createTopic(name) : s.createQueue(name);
    }

    static Object typed(String type, String hexValue) {
        String v = unhex(hexValue);
        switch (type) {
            case "string": return v;
            case "int": return Integer.valueOf(v);
            case "long": return Long.valueOf(v);
            case "double": return Double.valueOf(v);
            case "float": return Float.valueOf(v);
            case "short": return Short.valueOf(v);
            case "byte": return Byte.valueOf(v);
            case "bool": return Boolean.valueOf(v);
            case "binary": return bytes(v);
            default: throw new IllegalArgumentException(type);
        }
    }

    public static void main(String[] args) throws Exception {
        ActiveMQConnectionFactory f = new ActiveMQConnectionFactory("tcp://127.0.0.1:" + args[0]);
        Connection c = f.createConnection();
        c.start();
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Scanner in = new Scanner(System.in, "UTF-8");
        List<String> lines = new ArrayList<>();
        while (in.hasNextLine()) { String l = in.nextLine(); if (!l.isEmpty()) lines.add(l); }
        switch (args[1]) {
            case "send": send(s, lines); break;
            case "recv": recv(s, lines); break;
            case "request": request(s, lines.get(0).split("\t")); break;
            case "respond": respond(s, lines.get(0).split("\t")); break;
            case "abandon": abandon(c, lines.get(0).split("\t")); break;
            case "forward": forward(s, lines.get(0).split("\t")); break;
            default: throw new IllegalArgumentException(args[1]);
        }
        c.close();
    }

    static void send(Session s, List<String> lines) throws Exception {
        MessageProducer p = s.createProducer(null);
        for (String line : lines) {
            Map<String, String> kv = new HashMap<>();
            List<String[]> props = new ArrayList<>();
            for (String field : line.split("\t")) {
                int eq = field.indexOf('=');
                String k = field.substring(0, eq), v = field.substring(eq + 1);
                if (k.equals("p")) props.add(v.split(":", -1)); else kv.put(k, v);
            }
            String body = kv.get("body");
            String bodyKind = body.substring(0, body.indexOf(':')), bodyArg = body.substring(body.indexOf(':') + 1);
            Message m;
            switch (bodyKind) {
                case "text": m = s.createTextMessage(unhex(bodyArg)); break;
                case "bytes": case "big": {
                    BytesMessage b = s.createBytesMessage();
                    byte[] raw;
                    if (bodyKind.equals("big")) {
                        raw = new byte[Integer.parseInt(bodyArg)];
                        for (int i = 0; i < raw.length; i++) raw[i] = (byte) (i % 251);
                    } else raw = bytes(bodyArg);
                    b.writeBytes(raw);
                    m = b;
                    break;
                }
                case "map": {
                    MapMessage mm = s.createMapMessage();
                    if (!bodyArg.isEmpty()) for (String e : bodyArg.split(",")) {
                        String[] t = e.split(":", -1);
                        mm.setObject(unhex(t[1]), typed(t[0], t[2]));
                    }
                    m = mm;
                    break;
                }
                case "empty": m = s.createMessage(); break;
                default: throw new IllegalArgumentException(bodyKind);
            }
            for (String[] t : props) m.setObjectProperty(unhex(t[1]), typed(t[0], t[2]));
            if (kv.containsKey("corr")) m.setJMSCorrelationID(unhex(kv.get("corr")));
            if (kv.containsKey("type")) m.setJMSType(unhex(kv.get("type")));
            if (kv.containsKey("rk")) m.setJMSReplyTo(dest(s, kv.get("rk"), unhex(kv.get("rn"))));
            int prio = kv.containsKey("prio") ? Integer.parseInt(kv.get("prio")) : 4;
            long ttl = kv.containsKey("ttl") ? Long.parseLong(kv.get("ttl")) : 0;
            int mode = "false".equals(kv.get("durable")) ? DeliveryMode.NON_PERSISTENT : DeliveryMode.PERSISTENT;
            p.send(dest(s, kv.get("kind"), unhex(kv.get("name"))), m, mode, prio, ttl);
        }
        System.out.println("SENT");
    }

    static void request(Session s, String[] a) throws Exception {
        Destination replyTo = a[2].equals("temp") ? s.createTemporaryQueue() : a[2].equals("temp-topic") ? s.createTemporaryTopic() : s.createTopic(unhex(a[3]));
        MessageConsumer replies = s.createConsumer(replyTo);
        TextMessage req = s.createTextMessage("request");
        req.setJMSReplyTo(replyTo);
        req.setJMSCorrelationID("req-1");
        s.createProducer(dest(s, a[0], unhex(a[1]))).send(req);
        Message r = replies.receive(30_000);
        if (r == null) { System.out.println("{}"); return; }
        String body = r instanceof TextMessage ? ((TextMessage) r).getText() : null;
        if (r instanceof BytesMessage) {
            byte[] b = new byte[(int) ((BytesMessage) r).getBodyLength()];
            ((BytesMessage) r).readBytes(b);
            body = new String(b, StandardCharsets.UTF_8);
        }
        System.out.println("{\"body\":" + Json.str(body) + ",\"correlationId\":" + Json.str(r.getJMSCorrelationID())
            + ",\"destination\":" + Json.str(String.valueOf(r.getJMSDestination())) + ",\"replyToSent\":" + Json.str(replyTo.toString()) + "}");
    }

    static void respond(Session s, String[] a) throws Exception {
        MessageConsumer c = s.createConsumer(dest(s, a[0], unhex(a[1])));
        System.out.println("READY");
        System.out.flush();
        Message m = c.receive(30_000);
        if (m == null) throw new AssertionError("no request within 30 s");
        Destination rt = m.getJMSReplyTo();
        System.out.println("{\"replyTo\":" + Json.str(rt == null ? null : rt.toString()) + "}");
        TextMessage reply = s.createTextMessage("reply from jms");
        reply.setJMSCorrelationID(m.getJMSCorrelationID());
        s.createProducer(rt).send(reply);
        System.out.println("DONE");
    }

    static void forward(Session s, String[] a) throws Exception {
        MessageConsumer c = s.createConsumer(dest(s, a[0], unhex(a[1])));
        System.out.println("READY");
        System.out.flush();
        Message m = c.receive(30_000);
        if (m == null) throw new AssertionError("nothing to forward within 30 s");
        s.createProducer(dest(s, a[2], unhex(a[3]))).send(m);
        System.out.println("DONE");
    }

    static void abandon(Connection c, String[] a) throws Exception {
        Session s = c.createSession(false, Session.CLIENT_ACKNOWLEDGE);
        Message m = s.createConsumer(dest(s, a[0], unhex(a[1]))).receive(30_000);
        String hex = null;
        if (m instanceof TextMessage) hex = Json.hex(((TextMessage) m).getText().getBytes(StandardCharsets.UTF_8));
        System.out.println("{\"hex\":" + Json.str(hex) + "}");
    }

    static String jtyped(Object v) {
        String t = v.getClass().getSimpleName();
        String val = v instanceof byte[] ? Json.str(Json.hex((byte[]) v)) : v instanceof String || v instanceof Character ? Json.str(v.toString()) : v.toString();
        return "[" + Json.str(t) + "," + val + "]";
    }

    static void recv(Session s, List<String> lines) throws Exception {
        final List<String> got = Collections.synchronizedList(new ArrayList<>());
        final int want = lines.size();
        final Object lock = new Object();
        for (String line : lines) {
            String[] t = line.split("\t");
            final String id = t[0];
            MessageConsumer consumer = s.createConsumer(dest(s, t[1], unhex(t[2])));
            consumer.setMessageListener(m -> {
                try {
                    got.add(describe(id, m));
                } catch (Exception e) {
                    got.add("{\"dest\":" + Json.str(id) + ",\"error\":" + Json.str(e.toString()) + "}");
                }
                synchronized (lock) { lock.notifyAll(); }
            });
        }
        System.out.println("READY");
        System.out.flush();
        long deadline = System.currentTimeMillis() + 60_000;
        synchronized (lock) {
            while (got.size() < want && System.currentTimeMillis() < deadline) lock.wait(500);
        }
        synchronized (got) { for (String g : got) System.out.println(g); }
        System.out.println("DONE");
    }

    static String describe(String id, Message m) throws Exception {
        StringBuilder o = new StringBuilder("{\"dest\":").append(Json.str(id));
        String kind;
        byte[] raw = new byte[0];
        if (m instanceof TextMessage) {
            kind = "text";
            String t = ((TextMessage) m).getText();
            raw = t == null ? raw : t.getBytes(StandardCharsets.UTF_8);
        } else if (m instanceof BytesMessage) {
            kind = "bytes";
            BytesMessage b = (BytesMessage) m;
            raw = new byte[(int) b.getBodyLength()];
            b.readBytes(raw);
        } else if (m instanceof MapMessage) {
            kind = "map";
            MapMessage mm = (MapMessage) m;
            StringBuilder v = new StringBuilder();
            for (Enumeration<?> e = mm.getMapNames(); e.hasMoreElements(); ) {
                String k = (String) e.nextElement();
                v.append(v.length() == 0 ? "" : ",").append(Json.str(k)).append(":").append(jtyped(mm.getObject(k)));
            }
            o.append(",\"value\":{").append(v).append("}");
        } else if (m instanceof StreamMessage) {
            kind = "list";
            StreamMessage sm = (StreamMessage) m;
            StringBuilder v = new StringBuilder();
            try {
                for (;;) {
                    Object x = sm.readObject();
                    v.append(v.length() == 0 ? "" : ",").append(jtyped(x));
                }
            } catch (MessageEOFException end) {
                // the end of the stream
            }
            o.append(",\"value\":[").append(v).append("]");
        } else if (m instanceof ObjectMessage) {
            kind = "object";
        } else {
            kind = "empty";
        }
        o.append(",\"bodyKind\":").append(Json.str(kind)).append(",\"hex\":").append(Json.str(Json.hex(raw))).append(",\"size\":").append(raw.length);
        StringBuilder p = new StringBuilder();
        for (Enumeration<?> e = m.getPropertyNames(); e.hasMoreElements(); ) {
            String k = (String) e.nextElement();
            p.append(p.length() == 0 ? "" : ",").append(Json.str(k)).append(":").append(jtyped(m.getObjectProperty(k)));
        }
        o.append(",\"props\":{").append(p).append("}");
        o.append(",\"correlationId\":").append(Json.str(m.getJMSCorrelationID()));
        o.append(",\"type\":").append(Json.str(m.getJMSType()));
        o.append(",\"replyTo\":").append(Json.str(m.getJMSReplyTo() == null ? null : m.getJMSReplyTo().toString()));
        o.append(",\"priority\":").append(m.getJMSPriority());
        o.append(",\"expiration\":").append(m.getJMSExpiration());
        o.append(",\"timestamp\":").append(m.getJMSTimestamp());
        o.append(",\"durable\":").append(m.getJMSDeliveryMode() == DeliveryMode.PERSISTENT);
        o.append(",\"messageId\":").append(Json.str(m.getJMSMessageID()));
        o.append(",\"redelivered\":").append(m.getJMSRedelivered());
        return o.append("}").toString();
    }
}
