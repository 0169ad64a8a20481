// An unmodified ActiveMQ JMS client, driven against the scripted OpenWire server of the handshake
// test: connect, create a session, a producer and a consumer, send a plain and a compressed
// TextMessage with properties, receive the message the server dispatches, then close.
import javax.jms.*;
import org.apache.activemq.ActiveMQConnection;
import org.apache.activemq.ActiveMQConnectionFactory;

public class OpenWireClient {
    public static void main(String[] args) throws Exception {
        String url = "tcp://127.0.0.1:" + args[0] + (args.length > 1 ? args[1] : "");
        ActiveMQConnectionFactory f = new ActiveMQConnectionFactory(url);
        ActiveMQConnection c = (ActiveMQConnection) f.createConnection("wharf-user", "wharf-pass");
        c.setClientID("wharf-handshake-client");
        c.start();
        Session s = c.createSession(false, Session.CLIENT_ACKNOWLEDGE);
        Queue q = s.createQueue("wharf.handshake");
        MessageProducer p = s.createProducer(q);
        TextMessage m = s.createTextMessage("hello wharf ☃");
        m.setStringProperty("greeting", "hi");
        m.setIntProperty("count", 7);
        m.setLongProperty("big", 1L << 40);
        m.setBooleanProperty("flag", true);
        m.setDoubleProperty("ratio", 0.75);
        m.setJMSCorrelationID("corr-42");
        m.setJMSType("handshake");
        p.send(m, DeliveryMode.PERSISTENT, 6, 0);
        c.setUseCompression(true);
        p.send(s.createTextMessage(new String(new char[4000]).replace('\0', 'z')), DeliveryMode.NON_PERSISTENT, 4, 0);
        MessageConsumer consumer = s.createConsumer(q);
        Message in = consumer.receive(10000);
        if (in == null) {
            System.out.println("RECEIVED\tnull");
        } else {
            System.out.println("RECEIVED\t" + ((TextMessage) in).getText() + "\t" + in.getStringProperty("from") + "\t" + in.getIntProperty("n") + "\t" + in.getJMSMessageID());
            in.acknowledge();
        }
        c.close();
        System.out.println("CLOSED");
    }
}
