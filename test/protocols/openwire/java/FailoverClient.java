// ActiveMQ's JMS client with its failover transport, as an application pointed at a Wharf cluster would use it
// (test/cluster/cluster-jms.test.ts):
//   java FailoverClient produce <url> <queue> <count> <pauseMs>  sends persistent TextMessages m0..m<count-1>
//       synchronously, printing "SENT i" once each send has returned (the broker confirmed it);
//   java FailoverClient consume <url> <queue> <count> <timeoutMs> receives (AUTO_ACKNOWLEDGE) until it has seen
//       every m0..m<count-1>, printing "GOT <text> <JMSRedelivered>" per delivery.
// Both print "READY" once their connection is up, and "DONE" at the end.
import javax.jms.*;
import org.apache.activemq.ActiveMQConnectionFactory;

public class FailoverClient {
    public static void main(String[] args) throws Exception {
        String mode = args[0], url = args[1], queue = args[2];
        int count = Integer.parseInt(args[3]);
        long arg = Long.parseLong(args[4]);
        Connection c = new ActiveMQConnectionFactory(url).createConnection();
        c.start();
        Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        Queue q = s.createQueue(queue);
        if (mode.equals("produce")) {
            MessageProducer p = s.createProducer(q);
            p.setDeliveryMode(DeliveryMode.PERSISTENT);
            System.out.println("READY");
            for (int i = 0; i < count; i++) {
                p.send(s.createTextMessage("m" + i));
                System.out.println("SENT " + i);
                System.out.flush();
                if (arg > 0) Thread.sleep(arg);
            }
        } else {
            MessageConsumer mc = s.createConsumer(q);
            System.out.println("READY");
            System.out.flush();
            boolean[] seen = new boolean[count];
            int distinct = 0;
            long deadline = System.currentTimeMillis() + arg;
            while (distinct < count && System.currentTimeMillis() < deadline) {
                Message m = mc.receive(500);
                if (m == null) continue;
                String text = ((TextMessage) m).getText();
                System.out.println("GOT " + text + " " + m.getJMSRedelivered());
                System.out.flush();
                int i = Integer.parseInt(text.substring(1));
                if (i >= 0 && i < count && !seen[i]) {
                    seen[i] = true;
                    distinct++;
                }
            }
        }
        c.close();
        System.out.println("DONE");
        System.out.flush();
    }
}
