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

/** XAException error codes (javax.transaction.xa.XAException) the broker answers with. */
export const XaCode = {
  /** The branch was rolled back (its work could not be prepared or committed): ActiveMQ's XATransaction uses XA_RBOTHER. */
  RBOTHER: 104,
  RMERR: -3,
  /** No such branch (never started, or already committed / rolled back). */
  NOTA: -4,
  /** The call is not allowed in the branch's state (two-phase commit before prepare, prepare twice). */
  PROTO: -6,
  /** The Xid is already in use (a start of a prepared branch). */
  DUPID: -8,
} as const;

/**
 * An XAException for an XAResource call. Only the class name and message cross the wire (the client rebuilds the
 * throwable with its String constructor, errorCode 0); ActiveMQ's TransactionContext.toXAException then takes the
 * code from a trailing `xaErrorCode:<n>` in the message, and falls back to XAER_RMERR without one.
 */
export function xaError(code: number, message: string): JmsError {
  return new JmsError(XA_EXCEPTION, `${message} xaErrorCode:${code}`);
}

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
