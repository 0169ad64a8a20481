/** Errors the engine raises to adapters; each adapter maps `code` onto its protocol's own error. */
export type BrokerErrorCode =
  | 'limit' // destination full (reject policy, or block timed out)
  | 'not-found'
  | 'unauthorized'
  | 'unauthenticated'
  | 'invalid' // bad argument: selector, address, parameter
  | 'client-id-in-use'
  | 'closed' // engine, connection or consumer closed
  | 'transaction' // unknown or finished transaction
  | 'unavailable'; // the store cannot take writes now (disk full, I/O error, resource alarm): retry later

export class BrokerError extends Error {
  constructor(readonly code: BrokerErrorCode, message: string) {
    super(message);
    this.name = 'BrokerError';
  }
}
