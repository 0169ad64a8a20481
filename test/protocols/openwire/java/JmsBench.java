// The JMS side of bench/openwire.ts on ActiveMQ's own client: `java JmsBench <port> <producers> <consumers>
// <warmupSec> <seconds> <size> <queue>`. Each producer (own connection) sends PERSISTENT BytesMessages
// synchronously, one at a time; each consumer (own connection, AUTO_ACKNOWLEDGE) receives. Prints START and
// END around the measured window (the parent samples broker CPU there), then counts and latencies.
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import javax.jms.*;
import org.apache.activemq.ActiveMQConnectionFactory;

public class JmsBench {
    static volatile boolean measuring = false;
    static volatile boolean stop = false;

    public static void main(String[] a) throws Exception {
        int port = Integer.parseInt(a[0]), producers = Integer.parseInt(a[1]), consumers = Integer.parseInt(a[2]);
        double warmup = Double.parseDouble(a[3]), seconds = Double.parseDouble(a[4]);
        int size = Integer.parseInt(a[5]);
        String queue = a[6];
        String query = a.length > 7 ? a[7] : ""; // URL options, e.g. ?tcpNoDelay=true
        ActiveMQConnectionFactory f = new ActiveMQConnectionFactory("tcp://127.0.0.1:" + port + query);
        List<Connection> conns = new ArrayList<>();
        AtomicLong received = new AtomicLong(), sent = new AtomicLong();
        List<long[]> sendLat = Collections.synchronizedList(new ArrayList<>());
        List<long[]> e2eLat = Collections.synchronizedList(new ArrayList<>());
        ConcurrentLinkedQueue<Long> sends = new ConcurrentLinkedQueue<>(), e2e = new ConcurrentLinkedQueue<>();
        for (int i = 0; i < consumers; i++) {
            Connection c = f.createConnection();
            conns.add(c);
            Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            s.createConsumer(s.createQueue(queue)).setMessageListener(m -> {
                try {
                    long t = m.getLongProperty("t");
                    if (measuring) {
                        received.incrementAndGet();
                        e2e.add(System.nanoTime() - t);
                    }
                } catch (JMSException e) {
                    throw new RuntimeException(e);
                }
            });
            c.start();
        }
        byte[] body = new byte[size];
        Arrays.fill(body, (byte) 'x');
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < producers; i++) {
            Connection c = f.createConnection();
            conns.add(c);
            c.start();
            Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
            MessageProducer p = s.createProducer(s.createQueue(queue));
            p.setDeliveryMode(DeliveryMode.PERSISTENT);
            Thread t = new Thread(() -> {
                try {
                    while (!stop) {
                        BytesMessage m = s.createBytesMessage();
                        m.writeBytes(body);
                        long t0 = System.nanoTime();
                        m.setLongProperty("t", t0);
                        p.send(m); // persistent: synchronous, answered once durable
                        if (measuring) {
                            sends.add(System.nanoTime() - t0);
                            sent.incrementAndGet();
                        }
                    }
                } catch (JMSException e) {
                    if (!stop) e.printStackTrace();
                }
            });
            threads.add(t);
            t.start();
        }
        Thread.sleep((long) (warmup * 1000));
        System.out.println("START");
        System.out.flush();
        measuring = true;
        long t0 = System.nanoTime();
        Thread.sleep((long) (seconds * 1000));
        measuring = false;
        long elapsed = System.nanoTime() - t0;
        System.out.println("END");
        System.out.flush();
        stop = true;
        for (Thread t : threads) t.join(10_000);
        for (Connection c : conns) {
            try { c.close(); } catch (JMSException e) { }
        }
        double secs = elapsed / 1e9;
        System.out.println("RECEIVED\t" + received.get());
        System.out.println("SENT\t" + sent.get());
        System.out.println("SECONDS\t" + secs);
        print("SEND", sends);
        print("E2E", e2e);
        System.exit(0);
    }

    static void print(String what, Collection<Long> ns) {
        long[] v = ns.stream().mapToLong(Long::longValue).sorted().toArray();
        if (v.length == 0) return;
        System.out.println(what + "_P50\t" + v[(int) Math.min(v.length - 1, Math.floor(v.length * 0.50))] / 1e6);
        System.out.println(what + "_P99\t" + v[(int) Math.min(v.length - 1, Math.floor(v.length * 0.99))] / 1e6);
    }
}
