import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpenWireCodec } from '../../../protocols/openwire/index.js';

// The Java side of the OpenWire tests: ActiveMQ's own client jars as Debian ships them. Nothing
// is skipped when they are missing - the tests fail and say which packages to install.
export const JAVA_JARS: ReadonlyArray<readonly [jar: string, debianPackage: string]> = [
  ['activemq-client.jar', 'libactivemq-java'],
  ['geronimo-jms_1.1_spec.jar', 'libgeronimo-jms-1.1-spec-java'],
  ['hawtbuf.jar', 'libhawtbuf-java'],
  ['slf4j-api.jar', 'libslf4j-java'],
  ['slf4j-nop.jar', 'libslf4j-java'],
  ['geronimo-j2ee-management-1.1-spec.jar', 'libgeronimo-j2ee-management-1.1-spec-java'],
];
const JAR_DIR = '/usr/share/java';

/** The repository root: the compiled test runs from dist/test/..., the Java sources stay in test/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'test', 'protocols', 'openwire', 'java', 'OpenWireGolden.java'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find test/protocols/openwire/java above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export interface JavaHarness {
  classpath: string;
  run(args: string[], input?: string, timeoutMs?: number): string;
}

let cached: JavaHarness | undefined;

/** Compiles the Java helpers into a temp dir once per process. Throws a clear error when javac or a jar is missing. */
export function javaHarness(): JavaHarness {
  if (cached) return cached;
  const missing = JAVA_JARS.filter(([jar]) => !existsSync(join(JAR_DIR, jar)));
  const hasJavac = spawnSync('javac', ['-version'], { stdio: 'ignore' }).status === 0;
  if (missing.length > 0 || !hasJavac) {
    const pkgs = new Set(missing.map(([, p]) => p));
    if (!hasJavac) pkgs.add('default-jdk-headless');
    throw new Error(
      `OpenWire interop tests need ActiveMQ's Java client: missing ${[...missing.map(([j]) => join(JAR_DIR, j)), ...(hasJavac ? [] : ['javac'])].join(', ')}. ` +
        `Install the Debian packages: apt-get install -y ${[...pkgs].join(' ')}`,
    );
  }
  const classpath = JAVA_JARS.map(([jar]) => join(JAR_DIR, jar)).join(':');
  const out = mkdtempSync(join(tmpdir(), 'wharf-openwire-java-'));
  process.once('exit', () => rmSync(out, { recursive: true, force: true })); // compiled once per test process
  const srcDir = join(repoRoot(), 'test', 'protocols', 'openwire', 'java');
  const sources = readdirSync(srcDir).filter((f) => f.endsWith('.java')).map((f) => join(srcDir, f));
  execFileSync('javac', ['-nowarn', '-encoding', 'UTF-8', '-d', out, '-cp', classpath, ...sources], { stdio: ['ignore', 'ignore', 'pipe'] });
  const fullCp = `${out}:${classpath}`;
  cached = {
    classpath: fullCp,
    run(args, input, timeoutMs = 120_000) {
      return execFileSync('java', ['-cp', fullCp, ...args], { input, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 });
    },
  };
  return cached;
}

/** A codec for one of the Java helper's configuration names ("tight-cache", "loose-nocache-nostack", ...). */
export function codecFor(config: string): OpenWireCodec {
  const v = /^v(\d+)-(.*)$/.exec(config);
  const version = v ? Number(v[1]) : 12;
  if (v) config = v[2]!;
  return new OpenWireCodec({
    version,
    tightEncoding: config.startsWith('tight'),
    cacheEnabled: config.includes('-cache'),
    stackTraceEnabled: !config.includes('nostack'),
  });
}
