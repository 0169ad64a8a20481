/**
 * The one error type the OpenWire codec throws for anything wrong with the bytes it is given
 * (truncated, oversized, unknown type, too deep, malformed strings). A connection handler can
 * catch exactly this and close the connection, while real bugs still surface as other errors.
 */
export class OpenWireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpenWireError';
  }
}
