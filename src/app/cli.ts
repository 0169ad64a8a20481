/**
 * The `wharf` command. `bin/wharf.js` imports the compiled module, which runs `main()` on load.
 *
 * Subcommands: `start` runs the broker. Admin subcommands (`status`, `queues`, …) are added in
 * `buildProgram()` next to it, each as `program.command(...)`.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError, LOG_FORMATS, LOG_LEVELS, loadConfig, type BrokerConfigInput, type DeepPartial, type LogFormat, type LogLevel } from './config.js';
import { ListenError, ListenerConfigError } from '../transport/errors.js';
import { AdminCliError, addAdminCommands } from '../admin/cli.js';
import { addClusterCommands } from '../admin/cluster-cli.js';
import { packageVersion } from '../package-info.js';

/** Errors that are the operator's to fix: one line, no stack trace. */
function isUserError(err: unknown): err is Error {
  return (
    err instanceof ConfigError ||
    err instanceof ListenError ||
    err instanceof ListenerConfigError ||
    err instanceof AdminCliError ||
    (err instanceof Error && err.name === 'DataDirError')
  );
}

export interface StartOptions {
  config?: string;
  dataDir?: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
}

function parseLogLevel(v: string): LogLevel {
  const l = v.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(l)) throw new InvalidArgumentError(`expected one of ${LOG_LEVELS.join(', ')}.`);
  return l as LogLevel;
}

function parseLogFormat(v: string): LogFormat {
  const f = v.toLowerCase();
  if (!(LOG_FORMATS as readonly string[]).includes(f)) throw new InvalidArgumentError(`expected one of ${LOG_FORMATS.join(', ')}.`);
  return f as LogFormat;
}

export function buildProgram(): Command {
  const program = new Command('wharf')
    .description('Wharf message broker: JMS/OpenWire, AMQP 1.0, MQTT, STOMP, WebSocket and SQS/SNS on one durable engine')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('start')
    .description('run the broker in the foreground (SIGINT/SIGTERM stop it gracefully; a second signal forces exit)')
    .option('-c, --config <file>', 'configuration file, YAML or JSON (default: $WHARF_CONFIG, else built-in defaults)')
    .option('-d, --data-dir <dir>', 'data directory (overrides dataDir and $WHARF_DATA_DIR)')
    .option('-l, --log-level <level>', `log level: ${LOG_LEVELS.join(', ')}`, parseLogLevel)
    .option('--log-format <format>', 'json (JSON lines), pretty (readable lines) or auto: pretty on a terminal (default)', parseLogFormat)
    .addHelpText('after', '\nEnvironment: WHARF_CONFIG, WHARF_DATA_DIR, WHARF_LOG_LEVEL, WHARF_LOG_FORMAT,\nWHARF_<LISTENER>_PORT|HOST|ENABLED|TLS_PORT|TLS_ENABLED (LISTENER: OPENWIRE AMQP STOMP MQTT WS ADMIN SQS),\nWHARF_CLUSTER_NODE_ID|SECRET|HOST|PORT. See docs/configuration.md.')
    .action(async (opts: StartOptions) => {
      await runStart(opts);
    });

  // Admin subcommands over the REST admin API: status, queues, topics, browse, send, purge, dlq retry, export, import, …
  addAdminCommands(program);
  addClusterCommands(program);

  return program;
}

/** `wharf start`: load config, start the broker, wait for a signal, stop. */
export async function runStart(opts: StartOptions): Promise<void> {
  const overrides: DeepPartial<BrokerConfigInput> = {};
  if (opts.dataDir) overrides.dataDir = opts.dataDir;
  if (opts.logLevel || opts.logFormat) overrides.log = { ...(opts.logLevel ? { level: opts.logLevel } : {}), ...(opts.logFormat ? { format: opts.logFormat } : {}) };
  const config = loadConfig({ file: opts.config, overrides });

  // Imported here so `wharf --help` and config errors do not load the engine and LMDB.
  const { Broker } = await import('./broker.js');
  const broker = new Broker(config);
  const log = broker.logger;

  // Keeps the process alive even when no listener is open (every module disabled) until a signal arrives.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting without finishing shutdown');
      process.exit(130);
    }
    log.info({ signal }, 'shutting down (send the signal again to force exit)');
    broker.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await broker.start();
  } catch (err) {
    clearInterval(keepAlive);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    throw err;
  }
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help/version exit with 0; usage errors were already printed by commander
      process.exit(err.exitCode);
    }
    if (isUserError(err)) {
      process.stderr.write(`wharf: ${err.message}\n`);
    } else {
      process.stderr.write(`wharf: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exit(1);
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  let real: string;
  try {
    real = realpathSync(entry);
  } catch {
    return false;
  }
  const self = fileURLToPath(import.meta.url);
  return real === self || path.basename(real) === 'wharf.js' || path.basename(real) === 'wharf';
}

if (isEntryPoint()) void main();
