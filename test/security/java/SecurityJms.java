// A JMS client on ActiveMQ's own client jars for test/security/security.test.ts, driven over stdin/stdout:
// `java SecurityJms <port|url> <user|-> <password|->` connects (createConnection(user, password) + start) and prints
// CONNECTED, or ERROR<TAB>exception class<TAB>message and exits. Then one command a line (tab-separated):
//   send <dest> <body>      -> SENT | ERROR...          (persistent, so the send is synchronous)
//   subscribe <id> <dest>   -> SUBSCRIBED | ERROR...    (then MSG<TAB>id<TAB>text for each message)
//   browse <dest>           -> BROWSED<TAB>count | ERROR...   (a QueueBrowser's whole enumeration)
//   destroy <dest>          -> DESTROYED | ERROR...  (ActiveMQConnection.destroyDestination; temp-queue://name too)
//   tempqueue <id>          -> TEMP<TAB>name | ERROR...  (createTemporaryQueue + a consumer on it, as subscribe)
//   close                   -> CLOSED, exit
// <dest> is queue://name, topic://name or a bare queue name. A broker-side connection failure prints
// CONNECTION-ERROR<TAB>class<TAB>message; a consumer the broker closed stops receiving.
import java.io.*;
import java.util.*;
import javax.jms.*;
import org.apache.activemq.ActiveMQConnectionFactory;

public class SecurityJms {
    static synchronized void out(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static String err(Throwable e) {
        String m = String.valueOf(e.getMessage()).replace('\n', ' ').replace('\t', ' ');
        return "ERROR\t" + e.getClass().getName() + "\t" + m;
    }

    static Destination dest(Session s, String d) throws JMSException {
        if (d.startsWith("topic://")) return s.createTopic(d.substring(8));
        if (d.startsWith("queue://")) return s.createQueue(d.substring(8));
        if (d.startsWith("temp-queue://")) return new org.apache.activemq.command.ActiveMQTempQueue(d.substring(13));
        return s.createQueue(d);
    }

    public static void main(String[] args) throws Exception {
        String user = "-".equals(args[1]) ? null : args[1];
        String password = "-".equals(args[2]) ? null : args[2];
        // a bare port is tcp://127.0.0.1:<port>; a URL (ssl://localhost:<port>) is taken as given (its key and trust
        // stores come from the javax.net.ssl.* system properties)
        String url = args[0].contains("://") ? args[0] : "tcp://127.0.0.1:" + args[0];
        ActiveMQConnectionFactory f = new ActiveMQConnectionFactory(url + "?jms.watchTopicAdvisories=false");
        Connection c;
        try {
            c = f.createConnection(user, password);
            c.setExceptionListener(e -> out("CONNECTION-ERROR\t" + err(e).substring(6)));
            c.start();
        } catch (JMSException e) {
            out(err(e));
            System.exit(0);
            return;
        }
        out("CONNECTED");
        Session session = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        for (String line; (line = in.readLine()) != null; ) {
            String[] a = line.split("\t");
            try {
                switch (a[0]) {
                    case "send": {
                        MessageProducer p = session.createProducer(dest(session, a[1]));
                        p.setDeliveryMode(DeliveryMode.PERSISTENT);
                        p.send(session.createTextMessage(a.length > 2 ? a[2] : ""));
                        p.close();
                        out("SENT");
                        break;
                    }
                    case "subscribe": {
                        final String id = a[1];
                        MessageConsumer mc = session.createConsumer(dest(session, a[2]));
                        mc.setMessageListener(m -> {
                            try {
                                out("MSG\t" + id + "\t" + ((TextMessage) m).getText());
                            } catch (JMSException e) {
                                out("MSG-ERROR\t" + id);
                            }
                        });
                        out("SUBSCRIBED");
                        break;
                    }
                    case "browse": {
                        QueueBrowser b = session.createBrowser((javax.jms.Queue) dest(session, a[1]));
                        int n = 0;
                        for (Enumeration<?> e = b.getEnumeration(); e.hasMoreElements(); e.nextElement()) n++;
                        b.close();
                        out("BROWSED\t" + n);
                        break;
                    }
                    case "destroy": {
                        ((org.apache.activemq.ActiveMQConnection) c).destroyDestination((org.apache.activemq.command.ActiveMQDestination) dest(session, a[1]));
                        out("DESTROYED");
                        break;
                    }
                    case "tempqueue": {
                        final String id = a[1];
                        TemporaryQueue tq = session.createTemporaryQueue();
                        session.createConsumer(tq).setMessageListener(m -> {
                            try {
                                out("MSG\t" + id + "\t" + ((TextMessage) m).getText());
                            } catch (JMSException e) {
                                out("MSG-ERROR\t" + id);
                            }
                        });
                        out("TEMP\t" + tq.getQueueName());
                        break;
                    }
                    case "close":
                        try { c.close(); } catch (JMSException e) { }
                        out("CLOSED");
                        System.exit(0);
                        return;
                    default:
                        out("ERROR\tunknown\t" + a[0]);
                }
            } catch (Exception e) {
                out(err(e));
            }
        }
        try { c.close(); } catch (JMSException e) { }
        System.exit(0);
    }
}
