/**
 * Errors as OpenWire carries them: an ExceptionResponse names a Java exception class, which the ActiveMQ
 * client instantiates and throws from the JMS call (JMSException subclasses keep their type).
 */
import { BrokerError } from '../../src/core/api.js';
import type { ThrowableInfo } from './commands.js';

export const JMS_EXCEPTION = 'javax.jms.JMSException';
export const INVALID_DESTINATION = 'javax.jms.InvalidDestinationException';
export const SECURITY_EXCEPTION = 'javax.jms.JMSSecurityException';
export const INVALID_CLIENT_ID = 'javax.jms.InvalidClientIDException';
export const INVALID_SELECTOR = 'javax.jms.InvalidSelectorException';
export const RESOURCE_ALLOCATION = 'javax.jms.ResourceAllocationException';
export const TRANSACTION_ROLLED_BACK = 'javax.jms.TransactionRolledBackException';
export const ILLEGAL_STATE = 'javax.jms.IllegalStateException';
/** XAResource calls: the client turns it into an XAException for the transaction manager. */
export const XA_EXCEPTION = 'javax.transaction.xa.XAException';

/** An error the session raises itself, with the Java class the client should see. */
export class JmsError extends Error {
  constructor(readonly javaClass: string, message: string) {
    super(message);
    this.name = 'JmsError';
  }
}

/** The Java exception class for an error from the engine or the session. */
export function javaClassOf(err: unknown): string {
  if (err instanceof JmsError) return err.javaClass;
  if (err instanceof BrokerError) {
    switch (err.code) {
      case 'unauthenticated':
      case 'unauthorized':
        return SECURITY_EXCEPTION;
      case 'client-id-in-use':
        return INVALID_CLIENT_ID;
      case 'not-found':
        return INVALID_DESTINATION;
      case 'limit':
        return RESOURCE_ALLOCATION;
      case 'transaction':
        return TRANSACTION_ROLLED_BACK;
      case 'closed':
        return ILLEGAL_STATE;
      case 'invalid':
        return /selector/i.test(err.message) ? INVALID_SELECTOR : JMS_EXCEPTION;
    }
  }
  return JMS_EXCEPTION;
}

export function toThrowable(err: unknown): ThrowableInfo {
  const message = err instanceof Error ? err.message : String(err);
  return { className: javaClassOf(err), message, stackTrace: [], cause: null };
}
