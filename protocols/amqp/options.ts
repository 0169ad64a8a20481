/** Tunables of the AMQP 1.0 module (limits, timeouts, credit, buffers); tests pass smaller values. */
export interface AmqpOptions {
  /** Close a connection whose open (and authentication) is not complete within this many ms. */
  connectTimeout: number;
  /** Our idle-time-out (ms) in open; 0 = none. `limits.idleTimeout`, when set, is used instead. */
  idleTimeout: number;
  /** max-frame-size we advertise (and enforce); 0 = min(limits.maxFrameSize, 1 MiB). */
  maxFrameSize: number;
  /** Largest frame accepted before the client's open and during SASL. */
  preOpenMaxFrameSize: number;
  /** Sessions per connection (channel-max + 1). */
  maxSessions: number;
  /** Links per connection. */
  maxLinks: number;
  /** Decoded values all open sessions' begin and links' attach frames of a connection may hold (~60 bytes of heap each). */
  maxRetainedValues: number;
  /** Credit the broker grants each link a client sends on. */
  receiverCredit: number;
  /** Most deliveries the engine may have outstanding to one link at a time (the client's credit is capped by it). */
  maxConsumerCredit: number;
  /** rhea's per-session delivery buffers (unsettled outgoing / incoming deliveries). */
  sessionOutgoingBuffer: number;
  sessionIncomingBuffer: number;
  /** Output buffered above this many bytes stops deliveries and reading until 'drain'. */
  writeHighWater: number;
  /** Incoming message bytes waiting for their engine call above this pause reading. */
  maxPendingBytes: number;
  /** After our close, the socket is destroyed if the peer has not closed within this many ms. */
  closeGrace: number;
  /** Open transactions per connection. */
  maxTransactions: number;
  /** Refuse clients that do not do SASL (ANONYMOUS still allowed if the security hooks allow it). */
  requireSasl: boolean;
  /** Held input (after open, while connecting) above this pauses the socket. */
  maxHeldBytes: number;
}

export const DEFAULT_AMQP_OPTIONS: AmqpOptions = {
  connectTimeout: 10_000,
  idleTimeout: 60_000,
  maxFrameSize: 0,
  preOpenMaxFrameSize: 16 * 1024,
  maxSessions: 256,
  maxLinks: 1024,
  maxRetainedValues: 100_000,
  receiverCredit: 1000,
  maxConsumerCredit: 1000,
  sessionOutgoingBuffer: 8192,
  sessionIncomingBuffer: 4096,
  writeHighWater: 1024 * 1024,
  maxPendingBytes: 32 * 1024 * 1024,
  closeGrace: 2000,
  maxTransactions: 256,
  requireSasl: false,
  maxHeldBytes: 256 * 1024,
};
