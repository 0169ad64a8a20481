/** Fixed ports for processes started later (cluster nodes): picked here, bound by them. */
import net from 'node:net';

const taken = new Set<number>();

/**
 * A port that is free now, below Linux's ephemeral range (32768+): the nodes are started later on fixed ports, and
 * a port the kernel hands out for port 0 is soon reused by some outgoing connection or another test's listener.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    const s = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!ok) continue;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    taken.add(port);
    return port;
  }
}
