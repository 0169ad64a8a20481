// OpenWire (ActiveMQ's native protocol) wire format: bytes <-> command objects, version 12,
// tight and loose encoding, marshal caches, WireFormatInfo negotiation and message body helpers.
export * from './errors.js';
export * from './commands.js';
export { DataType, SCHEMAS, type FieldKind, type StructSchema } from './schema.js';
export {
  marshalPayload,
  unmarshalPayload,
  MarshalCache,
  UnmarshalCache,
  cacheKey,
  DEFAULT_DECODE_LIMITS,
  DEFAULT_CACHE_SIZE,
  type MarshalOptions,
  type DecodeLimits,
} from './marshal.js';
export * from './properties.js';
export * from './wire-format.js';
// The protocol module (session layer on the engine API).
export { OpenWireAdapter, createOpenWireModule, openwireModule } from './adapter.js';
export { DEFAULT_OPENWIRE_OPTIONS, OpenWireConnection, type OpenWireOptions } from './connection.js';
