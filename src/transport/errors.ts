/** A listener could not bind its port. The message names the listener, host and port. */
export class ListenError extends Error {
  readonly code: string;
  constructor(readonly listener: string, readonly host: string, readonly port: number, cause: NodeJS.ErrnoException) {
    super(describe(listener, host, port, cause), { cause });
    this.name = 'ListenError';
    this.code = cause.code ?? 'EUNKNOWN';
  }
}

function describe(listener: string, host: string, port: number, err: NodeJS.ErrnoException): string {
  const where = `port ${port} on ${host}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `${listener} listener: ${where} is already in use`;
    case 'EACCES':
    case 'EPERM':
      return `${listener} listener: no permission to bind ${where} (ports below 1024 need privileges)`;
    case 'EADDRNOTAVAIL':
      return `${listener} listener: cannot bind ${where}: address ${host} is not available on this machine`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${listener} listener: cannot bind ${where}: host ${host} not found`;
    default:
      return `${listener} listener: cannot bind ${where}: ${err.message}`;
  }
}

/** Wrap a server's listen() into a promise that rejects with a ListenError. */
export function listenServer(
  server: import('node:net').Server,
  listener: string,
  host: string,
  port: number,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(new ListenError(listener, host, port, err));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port });
  });
}

/** Bound address of a listening server (host as configured, port as bound — useful with port 0). */
export function boundAddress(server: import('node:net').Server, host: string): { host: string; port: number } {
  const a = server.address();
  if (a && typeof a === 'object') return { host, port: a.port };
  return { host, port: 0 };
}

/** Log at most one line per interval for a repeated event, with how many happened meanwhile. */
export function throttled(intervalMs: number, log: (count: number) => void): () => void {
  let last = 0;
  let pending = 0;
  return () => {
    pending++;
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      const n = pending;
      pending = 0;
      log(n);
    }
  };
}

/** A listener's own settings are unusable (e.g. a TLS certificate file that cannot be read). */
export class ListenerConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ListenerConfigError';
  }
}
