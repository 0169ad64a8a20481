/** Tunables of the STOMP module (limits, timeouts, flow control); tests pass smaller values. */
export interface StompOptions {
  /** Close a connection that has not sent CONNECT within this many ms. */
  connectTimeout: number;
  /** Smallest heart-beat interval the server agrees to, ms (a client asking for less gets this). */
  heartbeatMin: number;
  /** A peer that sent nothing for `tolerance ×` its negotiated heart-beat interval is disconnected. */
  heartbeatTolerance: number;
  /** Unacknowledged messages per subscription when the SUBSCRIBE has no `activemq.prefetchSize`. */
  defaultPrefetch: number;
  /** Upper bound for `activemq.prefetchSize`. */
  maxPrefetch: number;
  maxSubscriptions: number;
  /** Open transactions per connection. */
  maxTransactions: number;
  /** Messages / body bytes buffered in one transaction. */
  maxTransactionMessages: number;
  maxTransactionBytes: number;
  /** Temporary destinations per connection. */
  maxTemporaries: number;
  /** SENDs (and their body bytes) in flight before reading pauses. */
  maxPendingSends: number;
  maxPendingBytes: number;
  /** Output buffered above this many bytes withdraws credit and pauses reading until 'drain'. */
  writeHighWater: number;
  /** After an ERROR (or DISCONNECT receipt) the socket is destroyed if the peer has not closed it within this many ms. */
  closeGrace: number;
  /**
   * Longest command/header line, and most headers per frame: ActiveMQ 5.17's STOMP limits (maxHeaderLength 10 KiB,
   * 1000 headers, each checked before the next byte/header is taken: 10,241 bytes and 1001 headers still pass), so
   * what it accepts is accepted here (RabbitMQ 3.10 sets none below its frame size).
   */
  maxLineLength: number;
  maxHeaders: number;
}

export const DEFAULT_STOMP_OPTIONS: StompOptions = {
  connectTimeout: 10_000,
  heartbeatMin: 100,
  heartbeatTolerance: 2,
  defaultPrefetch: 1000,
  maxPrefetch: 32_767,
  maxSubscriptions: 1024,
  maxTransactions: 256,
  maxTransactionMessages: 100_000,
  maxTransactionBytes: 64 * 1024 * 1024,
  maxTemporaries: 1024,
  maxPendingSends: 1024,
  maxPendingBytes: 32 * 1024 * 1024,
  writeHighWater: 1024 * 1024,
  closeGrace: 2000,
  maxLineLength: 10 * 1024 + 1,
  maxHeaders: 1001,
};
