/** Waiting in tests: for a while, or until a check passes (never asserting on how long it took). */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until `check` stops throwing (or returns true), for effects that land later (after a commit, a network round trip). */
export async function eventually(check: () => unknown, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = check();
      if (r !== false) return;
      if (Date.now() > deadline) throw new Error('condition still false');
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(5);
  }
}
