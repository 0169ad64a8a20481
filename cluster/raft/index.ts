// Public surface of the Raft core. Storage and transport wiring should need nothing else.
export * from './types.js';
export { Prng } from './prng.js';
export type { Storage } from './storage.js';
export { MemoryStorage, EMPTY_CONF, EMPTY_SNAPSHOT } from './storage.js';
export type { ConfChange, ConfChangeType, ConfChangeRecord } from './confchange.js';
export { applyConfChange, decodeConfChange, encodeConfChange, confString } from './confchange.js';
export type { RaftConfig, Raft } from './raft.js';
export type { Ready, Status } from './node.js';
export { RawNode } from './node.js';
