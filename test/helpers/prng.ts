/** A small deterministic PRNG (the Raft simulation's mulberry32): fuzz and garbage tests draw from a seed so a failure reproduces. */
import { Prng } from '../../cluster/raft/prng.js';

export function mulberry32(seed: number): () => number {
  const p = new Prng(seed);
  return () => p.next();
}
