/** Start a TypeScript test fixture as a child process, whether tests run compiled (dist/) or under tsx. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function forkFixture(fixtureUrl: URL, args: string[], opts: { execArgv?: string[] } = {}): ChildProcess {
  const underTsx = import.meta.url.endsWith('.ts');
  const path = fileURLToPath(fixtureUrl).replace(/\.js$/, underTsx ? '.ts' : '.js');
  return fork(path, args, {
    execArgv: [...(underTsx ? ['--import', 'tsx'] : []), ...(opts.execArgv ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}
