// Describes what ActiveMQ decoded as JSON, by calling the public getters of each command, so the
// TypeScript test can check every field the Java side saw. Message bodies are decoded through the
// JMS API (getText, map names, stream reads) to prove the body formats, not just the bytes.
import java.lang.reflect.*;
import java.util.*;
import org.apache.activemq.command.*;

public class Json {
    static String str(String s) {
        if (s == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static final Set<String> SKIP = new HashSet<>(Arrays.asList(
        "getClass", "getDataStructureType", "getMarshalledForm", "getProperties", "getContent",
        "getMarshalledProperties", "getConnection", "getMemoryUsage", "getRegionDestination", "getSize",
        "getDataLocator", "getEntryLocator", "getPlistLocator", "getFutureOrSequenceLong", "getParentId",
        "getMessage", "getMessageHardRef", "getTransportCallback", "getConsumer", "getProperty",
        "getPropertyNames", "getAllPropertyNames", "getObject", "getText", "getMapNames", "getBodyLength",
        "getJMSDestination", "getJMSReplyTo", "getJMSMessageID", "getJMSCorrelationIDAsBytes", "getObjectProperty",
        "getAcknowledgeCallback", "getReadOnlyBody", "getReadOnlyProperties", "getTrustedClasses",
        "getMaxInflatedDataSize", "getDestinationPaths", "getCompositeDestinations", "getOptions",
        "getQualifiedName", "getDestinationTypeAsString", "getDestinationType", "getMarshalledProperties",
        "getDeliveryTime", "getJMSDeliveryTime", "getData", "getLastMessageId", "getFirstMessageId", "getPoisonCause",
        "getException", "getPreparedAcks", "getGroup", "getMagic", "getProducerSequenceId"));

    static String describe(Object o) throws Exception { return describe(o, 0); }

    static String describe(Object o, int depth) throws Exception {
        if (o == null) return "null";
        if (depth > 6) return "\"...\"";
        if (o instanceof String) return str((String) o);
        if (o instanceof Boolean || o instanceof Integer || o instanceof Short || o instanceof Byte) return o.toString();
        if (o instanceof Long) return "\"" + o + "\"";
        if (o instanceof Float || o instanceof Double) return str(o.toString());
        if (o instanceof Character) return str(o.toString());
        if (o instanceof byte[]) return str(hex((byte[]) o));
        if (o instanceof Throwable) return throwable((Throwable) o, depth);
        if (o instanceof Object[]) {
            StringBuilder b = new StringBuilder("[");
            Object[] a = (Object[]) o;
            for (int i = 0; i < a.length; i++) { if (i > 0) b.append(','); b.append(describe(a[i], depth + 1)); }
            return b.append(']').toString();
        }
        if (o instanceof Map) {
            StringBuilder b = new StringBuilder("{");
            boolean first = true;
            for (Object e : new TreeMap<Object, Object>((Map<?, ?>) o).entrySet()) {
                Map.Entry<?, ?> en = (Map.Entry<?, ?>) e;
                if (!first) b.append(','); first = false;
                b.append(str(String.valueOf(en.getKey()))).append(':').append(typed(en.getValue(), depth));
            }
            return b.append('}').toString();
        }
        if (o instanceof List) {
            StringBuilder b = new StringBuilder("[");
            List<?> l = (List<?>) o;
            for (int i = 0; i < l.size(); i++) { if (i > 0) b.append(','); b.append(typed(l.get(i), depth)); }
            return b.append(']').toString();
        }
        if (!(o instanceof DataStructure)) return str(o.getClass().getName() + ":" + o);
        StringBuilder b = new StringBuilder("{\"_class\":" + str(o.getClass().getSimpleName()));
        TreeMap<String, Method> getters = new TreeMap<>();
        for (Method m : o.getClass().getMethods()) {
            if (m.getParameterCount() != 0 || Modifier.isStatic(m.getModifiers())) continue;
            String n = m.getName();
            if (SKIP.contains(n)) continue;
            if (!(n.startsWith("get") || n.startsWith("is"))) continue;
            Class<?> r = m.getReturnType();
            boolean ok = r.isPrimitive() || r == String.class || DataStructure.class.isAssignableFrom(r) || r.isArray();
            if (!ok || r == void.class) continue;
            String prop = n.startsWith("is") ? n.substring(2) : n.substring(3);
            getters.put(Character.toLowerCase(prop.charAt(0)) + prop.substring(1), m);
        }
        for (Map.Entry<String, Method> e : getters.entrySet()) {
            Object v;
            try { v = e.getValue().invoke(o); } catch (Throwable t) { continue; }
            b.append(',').append(str(e.getKey())).append(':').append(describe(v, depth + 1));
        }
        // Fields the generic walk skips because their getters have side effects or odd types.
        if (o instanceof MessageAck) {
            MessageAck a = (MessageAck) o;
            b.append(",\"firstMessageId\":").append(describe(a.getFirstMessageId(), depth + 1));
            b.append(",\"lastMessageId\":").append(describe(a.getLastMessageId(), depth + 1));
            b.append(",\"poisonCause\":").append(describe(a.getPoisonCause(), depth + 1));
        }
        if (o instanceof MessageId) b.append(",\"producerSequenceId\":\"").append(((MessageId) o).getProducerSequenceId()).append('"');
        if (o instanceof Response && o instanceof ExceptionResponse) b.append(",\"exception\":").append(describe(((ExceptionResponse) o).getException(), depth + 1));
        if (o instanceof ConnectionError) b.append(",\"exception\":").append(describe(((ConnectionError) o).getException(), depth + 1));
        if (o instanceof DataArrayResponse) b.append(",\"data\":").append(describe(((DataArrayResponse) o).getData(), depth + 1));
        if (o instanceof MessageDispatch) b.append(",\"message\":").append(describe(((MessageDispatch) o).getMessage(), depth + 1));
        if (o instanceof WireFormatInfo) {
            WireFormatInfo w = (WireFormatInfo) o;
            b.append(",\"magic\":").append(str(new String(w.getMagic(), "US-ASCII")));
            b.append(",\"props\":").append(describe(w.getProperties(), depth + 1));
        }
        if (o instanceof Message) body((Message) o, b, depth);
        return b.append('}').toString();
    }

    static void body(Message m, StringBuilder b, int depth) throws Exception {
        b.append(",\"props\":").append(describe(m.getProperties(), depth + 1));
        if (m instanceof ActiveMQTextMessage) b.append(",\"text\":").append(str(((ActiveMQTextMessage) m).getText()));
        if (m instanceof ActiveMQBytesMessage) {
            ActiveMQBytesMessage bm = (ActiveMQBytesMessage) m;
            bm.setReadOnlyBody(true);
            byte[] buf = new byte[(int) bm.getBodyLength()];
            bm.readBytes(buf);
            b.append(",\"bytes\":").append(str(hex(buf)));
        }
        if (m instanceof ActiveMQMapMessage) {
            ActiveMQMapMessage mm = (ActiveMQMapMessage) m;
            TreeMap<String, Object> t = new TreeMap<>();
            for (Enumeration<?> e = mm.getMapNames(); e.hasMoreElements();) { String k = (String) e.nextElement(); t.put(k, mm.getObject(k)); }
            b.append(",\"map\":").append(describe(t, depth + 1));
        }
        if (m instanceof ActiveMQStreamMessage) {
            ActiveMQStreamMessage sm = (ActiveMQStreamMessage) m;
            sm.setReadOnlyBody(true);
            StringBuilder s = new StringBuilder("[");
            try {
                for (int i = 0; ; i++) { Object v = sm.readObject(); if (i > 0) s.append(','); s.append(typed(v, depth)); }
            } catch (javax.jms.MessageEOFException eof) { }
            b.append(",\"stream\":").append(s).append(']');
        }
    }

    static String typed(Object v, int depth) throws Exception {
        String t = v == null ? "null" : v instanceof byte[] ? "bytes" : v.getClass().getSimpleName();
        if (v != null && v.getClass().getName().endsWith("UTF8Buffer")) { t = "String"; v = v.toString(); }
        return "{\"t\":" + str(t) + ",\"v\":" + describe(v, depth + 1) + "}";
    }

    static String throwable(Throwable t, int depth) throws Exception {
        StringBuilder b = new StringBuilder("{\"class\":" + str(t.getClass().getName()) + ",\"message\":" + str(t.getMessage()));
        b.append(",\"stack\":[");
        StackTraceElement[] st = t.getStackTrace();
        for (int i = 0; i < st.length; i++) {
            if (i > 0) b.append(',');
            b.append("[").append(str(st[i].getClassName())).append(',').append(str(st[i].getMethodName())).append(',')
             .append(str(st[i].getFileName())).append(',').append(st[i].getLineNumber()).append(']');
        }
        b.append("],\"cause\":").append(t.getCause() == null || depth > 5 ? "null" : throwable(t.getCause(), depth + 1));
        return b.append('}').toString();
    }

    static String hex(byte[] a) {
        StringBuilder s = new StringBuilder();
        for (byte x : a) s.append(String.format("%02x", x & 0xff));
        return s.toString();
    }
}
