/**
 * The STOMP frame codec: the streaming decoder (decoder.ts) and the encoder (encoder.ts), with the frame
 * types, under one import.
 */
export { StompDecoder, type StompDecoderOptions } from './decoder.js';
export { encodeFrame, escapeHeader, escapeModeFor, HEARTBEAT, PreparedMessage, prepareMessage, receiptFrame } from './encoder.js';
export { header, headerAll, StompProtocolError } from './frame.js';
export type { StompErrorCode, StompFrame, StompVersion } from './frame.js';
