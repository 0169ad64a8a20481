// Test helper for Wharf's OpenWire codec. It uses ActiveMQ's own OpenWireFormat (the real Java
// client's marshalling code) as the reference:
//   java OpenWireGolden golden   -> prints "label<TAB>config<TAB>hex" for a fixed set of commands
//   java OpenWireGolden decode   -> reads "config<TAB>label<TAB>hex" lines from stdin, unmarshals
//                                   them and prints "label<TAB>json" describing what Java decoded
// A config is "tight|loose" + "-cache|-nocache" + optional "-nostack"; one OpenWireFormat instance
// per config is kept for the whole run, so marshal/unmarshal caches evolve as on a connection.
import java.io.*;
import java.lang.reflect.*;
import java.util.*;
import org.apache.activemq.command.*;
import org.apache.activemq.openwire.OpenWireFormat;
import org.apache.activemq.util.ByteSequence;

public class OpenWireGolden {
    static final String[] CONFIGS = {"tight-cache", "tight-nocache", "loose-cache", "loose-nocache", "tight-cache-nostack", "loose-nocache-nostack",
        "v11-tight-cache", "v10-loose-cache", "v9-tight-nocache", "v9-loose-cache"};
    static final Map<String, OpenWireFormat> formats = new HashMap<>();

    static OpenWireFormat format(String config) {
        return formats.computeIfAbsent(config, c -> {
            int version = 12;
            if (c.startsWith("v")) { version = Integer.parseInt(c.substring(1, c.indexOf('-'))); c = c.substring(c.indexOf('-') + 1); }
            OpenWireFormat f = new OpenWireFormat(version);
            f.setTightEncodingEnabled(c.startsWith("tight"));
            f.setCacheEnabled(c.contains("-cache"));
            f.setStackTraceEnabled(!c.contains("nostack"));
            return f;
        });
    }

    static String repeat(String s, int n) { StringBuilder b = new StringBuilder(); for (int i = 0; i < n; i++) b.append(s); return b.toString(); }

    static final ConnectionId CONN = new ConnectionId("ID:golden-host-40001-1700000000000-1:1");
    static final SessionId SESS = new SessionId(CONN, 1);
    static final ProducerId PROD = new ProducerId(SESS, 1);
    static final ConsumerId CONS = new ConsumerId(SESS, 7);

    static void headers(Message m, long seq) throws Exception {
        m.setProducerId(PROD);
        m.setDestination(new ActiveMQQueue("orders.in"));
        MessageId id = new MessageId(PROD, seq);
        id.setBrokerSequenceId(123456789012L);
        m.setMessageId(id);
        m.setTimestamp(1700000000123L);
        m.setPersistent(true);
        m.setPriority((byte) 7);
        m.setExpiration(1700000060000L);
        m.setCorrelationId("corr-" + seq);
        m.setType("golden-type");
        m.setReplyTo(new ActiveMQTempQueue("ID:golden-host-40001-1700000000000-1:1:1"));
    }

    static Map<String, Object[]> commands() throws Exception {
        LinkedHashMap<String, Object[]> out = new LinkedHashMap<>();
        WireFormatInfo wfi = new WireFormatInfo();
        wfi.setVersion(12);
        wfi.setTightEncodingEnabled(true);
        wfi.setCacheEnabled(true);
        wfi.setCacheSize(1024);
        wfi.setStackTraceEnabled(true);
        wfi.setTcpNoDelayEnabled(true);
        wfi.setSizePrefixDisabled(false);
        wfi.setMaxInactivityDuration(30000);
        wfi.setMaxInactivityDurationInitalDelay(10000);
        wfi.setMaxFrameSize(104857600L);
        wfi.setProviderName("ActiveMQ");
        out.put("wireformatinfo", new Object[]{wfi});

        BrokerInfo bi = new BrokerInfo();
        bi.setBrokerId(new BrokerId("ID:broker-1"));
        bi.setBrokerURL("tcp://127.0.0.1:61616");
        bi.setBrokerName("golden-broker");
        BrokerInfo peer = new BrokerInfo();
        peer.setBrokerId(new BrokerId("ID:broker-2"));
        peer.setBrokerName("peer");
        bi.setPeerBrokerInfos(new BrokerInfo[]{peer});
        bi.setFaultTolerantConfiguration(true);
        bi.setConnectionId(70000L);
        bi.setNetworkProperties("a=b");
        out.put("brokerinfo", new Object[]{bi});

        ConnectionInfo ci = new ConnectionInfo(CONN);
        ci.setCommandId(1);
        ci.setResponseRequired(true);
        ci.setClientId("golden-client");
        ci.setUserName("user");
        ci.setPassword("pässwörd");
        ci.setBrokerPath(new BrokerId[]{new BrokerId("ID:b1"), new BrokerId("ID:b2")});
        ci.setManageable(true);
        ci.setFaultTolerant(true);
        ci.setClientIp("tcp://10.0.0.1:5000");
        out.put("connectioninfo", new Object[]{ci});

        SessionInfo si = new SessionInfo(SESS);
        si.setCommandId(2);
        si.setResponseRequired(true);
        out.put("sessioninfo", new Object[]{si});

        ProducerInfo pi = new ProducerInfo(PROD);
        pi.setCommandId(3);
        pi.setDestination(new ActiveMQQueue("orders.in"));
        pi.setWindowSize(65536);
        pi.setDispatchAsync(true);
        out.put("producerinfo", new Object[]{pi});

        ConsumerInfo coi = new ConsumerInfo(CONS);
        coi.setCommandId(4);
        coi.setResponseRequired(true);
        coi.setDestination(new ActiveMQTopic("prices.>"));
        coi.setPrefetchSize(1000);
        coi.setMaximumPendingMessageLimit(-1);
        coi.setSelector("price > 10 AND sym = 'ÄB'");
        coi.setSubscriptionName("durable-1");
        coi.setClientId("golden-client");
        coi.setNoLocal(true);
        coi.setExclusive(true);
        coi.setPriority((byte) -5);
        coi.setNetworkConsumerPath(new ConsumerId[]{CONS});
        out.put("consumerinfo", new Object[]{coi});

        RemoveInfo ri = new RemoveInfo(CONS);
        ri.setCommandId(5);
        ri.setLastDeliveredSequenceId(9876543210123L);
        out.put("removeinfo", new Object[]{ri});

        RemoveSubscriptionInfo rsi = new RemoveSubscriptionInfo();
        rsi.setConnectionId(CONN);
        rsi.setClientId("golden-client");
        rsi.setSubscriptionName("durable-1");
        out.put("removesubscriptioninfo", new Object[]{rsi});

        DestinationInfo di = new DestinationInfo(CONN, DestinationInfo.ADD_OPERATION_TYPE, new ActiveMQTempTopic("ID:golden:tt:1"));
        di.setTimeout(65537L);
        out.put("destinationinfo", new Object[]{di});

        ActiveMQTextMessage dispatched = new ActiveMQTextMessage();
        headers(dispatched, 41);
        dispatched.setText("dispatched text");
        dispatched.setRedeliveryCounter(2);
        MessageDispatch md = new MessageDispatch();
        md.setConsumerId(CONS);
        md.setDestination(new ActiveMQQueue("orders.in"));
        md.setMessage(dispatched);
        md.setRedeliveryCounter(2);
        out.put("messagedispatch", new Object[]{md});

        MessagePull mp = new MessagePull();
        mp.setConsumerId(CONS);
        mp.setDestination(new ActiveMQQueue("orders.in"));
        mp.setTimeout(-1L);
        mp.setCorrelationId("pull-1");
        out.put("messagepull", new Object[]{mp});

        MessageAck ack = new MessageAck();
        ack.setDestination(new ActiveMQQueue("orders.in"));
        ack.setTransactionId(new LocalTransactionId(CONN, 99));
        ack.setConsumerId(CONS);
        ack.setAckType(MessageAck.POISON_ACK_TYPE);
        ack.setFirstMessageId(new MessageId(PROD, 1));
        ack.setLastMessageId(new MessageId(PROD, 41));
        ack.setMessageCount(41);
        ack.setPoisonCause(new Throwable("poisoned", new IllegalStateException("inner")));
        out.put("messageack", new Object[]{ack});

        ProducerAck pa = new ProducerAck(PROD, 4096);
        out.put("producerack", new Object[]{pa});

        XATransactionId xid = new XATransactionId();
        xid.setFormatId(0x1234);
        xid.setGlobalTransactionId(new byte[]{1, 2, 3, 4, (byte) 0xff});
        xid.setBranchQualifier(new byte[]{9, 8});
        TransactionInfo ti = new TransactionInfo(CONN, xid, TransactionInfo.BEGIN);
        ti.setCommandId(6);
        ti.setResponseRequired(true);
        out.put("transactioninfo-xa", new Object[]{ti});
        TransactionInfo ti2 = new TransactionInfo(CONN, new LocalTransactionId(CONN, 99), TransactionInfo.COMMIT_ONE_PHASE);
        out.put("transactioninfo-local", new Object[]{ti2});

        Response resp = new Response();
        resp.setCorrelationId(6);
        out.put("response", new Object[]{resp});

        Exception cause = new java.io.IOException("disk on fire");
        cause.setStackTrace(new StackTraceElement[]{new StackTraceElement("org.example.Disk", "write", "Disk.java", 42)});
        javax.jms.JMSException ex = new javax.jms.InvalidDestinationException("no such queue: x");
        ex.initCause(cause);
        ex.setStackTrace(new StackTraceElement[]{
            new StackTraceElement("org.apache.activemq.broker.Broker", "send", "Broker.java", 100),
            new StackTraceElement("org.apache.activemq.broker.Native", "call", null, -2)});
        ExceptionResponse er = new ExceptionResponse(ex);
        er.setCorrelationId(7);
        out.put("exceptionresponse", new Object[]{er});

        DataArrayResponse dar = new DataArrayResponse();
        dar.setCorrelationId(8);
        dar.setData(new DataStructure[]{new ActiveMQQueue("q1"), new ActiveMQTopic("t1"), null});
        out.put("dataarrayresponse", new Object[]{dar});
        IntegerResponse ir = new IntegerResponse(-42);
        ir.setCorrelationId(9);
        out.put("integerresponse", new Object[]{ir});

        out.put("shutdowninfo", new Object[]{new ShutdownInfo()});
        ConnectionControl cc = new ConnectionControl();
        cc.setFaultTolerant(true);
        cc.setRebalanceConnection(true);
        cc.setReconnectTo("tcp://other:61616");
        cc.setConnectedBrokers("tcp://a:1,tcp://b:2");
        cc.setToken(new byte[]{0, 1, 2, 127, (byte) 128});
        out.put("connectioncontrol", new Object[]{cc});
        ConsumerControl coc = new ConsumerControl();
        coc.setConsumerId(CONS);
        coc.setDestination(new ActiveMQQueue("orders.in"));
        coc.setPrefetch(0);
        coc.setStop(true);
        out.put("consumercontrol", new Object[]{coc});
        ControlCommand ctl = new ControlCommand();
        ctl.setCommand("shutdown");
        out.put("controlcommand", new Object[]{ctl});
        out.put("flushcommand", new Object[]{new FlushCommand()});
        out.put("keepaliveinfo", new Object[]{new KeepAliveInfo()});
        ConnectionError ce = new ConnectionError();
        ce.setException(new SecurityException("User name [x] or password is invalid."));
        ce.setConnectionId(CONN);
        out.put("connectionerror", new Object[]{ce});
        ReplayCommand rc = new ReplayCommand();
        rc.setFirstNakNumber(10);
        rc.setLastNakNumber(20);
        out.put("replaycommand", new Object[]{rc});

        // Messages: every header, typed properties, big strings, compression.
        ActiveMQMessage plain = new ActiveMQMessage();
        headers(plain, 1);
        plain.setGroupID("group-A");
        plain.setGroupSequence(3);
        plain.setTransactionId(new LocalTransactionId(CONN, 99));
        plain.setOriginalDestination(new ActiveMQTopic("orig.topic"));
        plain.setOriginalTransactionId(new LocalTransactionId(CONN, 98));
        plain.setTargetConsumerId(CONS);
        plain.setRedeliveryCounter(5);
        plain.setBrokerPath(new BrokerId[]{new BrokerId("ID:b1")});
        plain.setCluster(new BrokerId[]{new BrokerId("ID:c1"), new BrokerId("ID:c2")});
        plain.setArrival(1700000000200L);
        plain.setUserID("alice");
        plain.setBrokerInTime(1700000000150L);
        plain.setBrokerOutTime(1700000000250L);
        plain.setDroppable(true);
        plain.setJMSXGroupFirstForConsumer(true);
        plain.setProperty("bool", Boolean.TRUE);
        plain.setProperty("byte", (byte) -3);
        plain.setProperty("short", (short) -300);
        plain.setProperty("int", 123456789);
        plain.setProperty("long", -1234567890123456789L);
        plain.setProperty("float", 1.5f);
        plain.setProperty("double", -2.25e100);
        plain.setProperty("char", 'Z');
        plain.setProperty("string", "héllo\u0000wörld \uD83D\uDE00");
        plain.setProperty("bigstring", repeat("big-€-", 2000));
        plain.setProperty("bytes", new byte[]{1, 2, 3});
        plain.setProperty("null", null);
        Map<String, Object> nested = new LinkedHashMap<>();
        nested.put("k", 1);
        nested.put("list", Arrays.asList("a", 2L, Boolean.FALSE));
        plain.setProperty("map", nested);
        out.put("message-plain", new Object[]{plain});

        ActiveMQTextMessage text = new ActiveMQTextMessage();
        headers(text, 2);
        text.setText("Hello, OpenWire! ☃");
        text.setProperty("JMSXGroupID", "g");
        out.put("message-text", new Object[]{text});

        ActiveMQTextMessage big = new ActiveMQTextMessage();
        headers(big, 3);
        big.setText(repeat("0123456789abcdéf", 5000));
        out.put("message-text-big", new Object[]{big});

        ActiveMQTextMessage ztext = new ActiveMQTextMessage();
        headers(ztext, 4);
        ztext.setText(repeat("compress me ", 500));
        ztext.compress();
        out.put("message-text-compressed", new Object[]{ztext});

        ActiveMQBytesMessage bytes = new ActiveMQBytesMessage();
        headers(bytes, 5);
        bytes.writeBytes(new byte[]{0, 1, 2, 3, (byte) 0xfe, (byte) 0xff});
        bytes.storeContent();
        out.put("message-bytes", new Object[]{bytes});

        ActiveMQBytesMessage zbytes = new ActiveMQBytesMessage();
        headers(zbytes, 6);
        byte[] many = new byte[3000];
        for (int i = 0; i < many.length; i++) many[i] = (byte) (i % 7);
        zbytes.writeBytes(many);
        zbytes.storeContent();
        zbytes.compress();
        out.put("message-bytes-compressed", new Object[]{zbytes});

        ActiveMQMapMessage map = new ActiveMQMapMessage();
        headers(map, 7);
        map.setString("name", "widget");
        map.setInt("count", 3);
        map.setDouble("price", 9.99);
        map.setBoolean("ok", true);
        map.setBytes("raw", new byte[]{7, 7});
        map.setLong("big", Long.MIN_VALUE);
        map.setChar("c", 'x');
        map.storeContent();
        out.put("message-map", new Object[]{map});

        ActiveMQMapMessage zmap = new ActiveMQMapMessage();
        headers(zmap, 8);
        zmap.setString("name", repeat("z", 1000));
        zmap.storeContent();
        zmap.compress();
        out.put("message-map-compressed", new Object[]{zmap});

        ActiveMQStreamMessage stream = new ActiveMQStreamMessage();
        headers(stream, 9);
        stream.writeString("first");
        stream.writeInt(2);
        stream.writeBoolean(false);
        stream.writeBytes(new byte[]{5, 6});
        stream.writeObject(null);
        stream.writeDouble(3.5);
        stream.writeShort((short) 7);
        stream.writeByte((byte) 8);
        stream.writeFloat(0.25f);
        stream.writeLong(1L << 40);
        stream.writeChar('q');
        stream.writeString(repeat("S", 9000));
        stream.storeContent();
        out.put("message-stream", new Object[]{stream});

        ActiveMQObjectMessage obj = new ActiveMQObjectMessage();
        headers(obj, 10);
        obj.setObject("a serialized java.lang.String");
        obj.storeContent();
        out.put("message-object", new Object[]{obj});

        // Same message twice: with the cache on, the second copy refers to cached ids/destinations.
        ActiveMQTextMessage again = new ActiveMQTextMessage();
        headers(again, 11);
        again.setText("again");
        out.put("message-text-again", new Object[]{again});
        return out;
    }

    static String hex(byte[] b, int off, int len) {
        StringBuilder s = new StringBuilder(len * 2);
        for (int i = off; i < off + len; i++) s.append(String.format("%02x", b[i] & 0xff));
        return s.toString();
    }

    static byte[] unhex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        return b;
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        if (args.length > 0 && args[0].equals("golden")) {
            Map<String, Object[]> cmds = commands();
            for (String config : CONFIGS) {
                OpenWireFormat f = format(config);
                for (Map.Entry<String, Object[]> e : cmds.entrySet()) {
                    ByteSequence seq = f.marshal(e.getValue()[0]);
                    out.println(e.getKey() + "\t" + config + "\t" + hex(seq.data, seq.offset, seq.length));
                }
            }
        } else if (args.length > 0 && args[0].equals("decode")) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) continue;
                String[] p = line.split("\t");
                String label = p[1];
                try {
                    Object o = format(p[0]).unmarshal(new ByteSequence(unhex(p[2])));
                    out.println(label + "\t" + Json.describe(o));
                } catch (Throwable t) {
                    out.println(label + "\t{\"error\":" + Json.str(t.toString()) + "}");
                }
            }
        } else {
            System.err.println("usage: OpenWireGolden golden|decode");
            System.exit(2);
        }
    }
}
