/**
 * Logging: pino. JSON lines by default when stdout is not a terminal (log shippers, `--log-format json`);
 * on a terminal, readable lines — time, level, component, message — through pino-pretty, as ActiveMQ and
 * RabbitMQ print theirs. Level from config (`log.level`, `WHARF_LOG_LEVEL`, `--log-level`).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';
import type { LogFormat, LogLevel } from './config.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: LogLevel;
  /** `auto` (default): pretty when stdout is a terminal. Ignored when a destination is given. */
  format?: LogFormat;
  /** Default: stdout, written synchronously so the last lines before an exit are not lost. */
  destination?: DestinationStream;
}

/** Whether `format` means readable lines on this process's stdout. */
export function prettyLogs(format: LogFormat | undefined): boolean {
  return format === 'pretty' || ((format ?? 'auto') === 'auto' && process.stdout.isTTY === true);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const destination = opts.destination ?? (prettyLogs(opts.format) ? prettyStream() : pino.destination({ dest: 1, sync: true }));
  return pino(
    {
      name: 'wharf',
      level: opts.level ?? 'info',
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { pid: process.pid },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** Readable lines: `12:00:01.250 INFO  [stomp] stomp listening on 0.0.0.0:61613`, other fields after the message. */
function prettyStream(): DestinationStream {
  return PinoPretty({
    sync: true,
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,name,component,protocol,listener,host,port,summary,listeners',
    singleLine: true,
    messageFormat: (log, messageKey) => {
      const where = log.component ?? log.protocol ?? log.listener;
      return `${where ? `[${String(where)}] ` : ''}${String(log[messageKey] ?? '')}`;
    },
    customLevels: { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 },
    useOnlyCustomProps: false,
  });
}

/** A logger that writes nothing (tests, embedding). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
