// A PostgreSQL server of the fault run's own (initdb in a temporary directory,
// its own port on 127.0.0.1), so it can really be stopped and started without
// touching the server every other test and engineer on the machine uses.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childMark } from '../../support/children.ts';
import { freePort } from '../../support/server.ts';

const bin = (() => {
  const root = '/usr/lib/postgresql';
  const ver = readdirSync(root).sort((a, b) => Number(a) - Number(b)).pop();
  if (!ver) throw new Error('no PostgreSQL under /usr/lib/postgresql');
  return join(root, ver, 'bin');
})();

// PostgreSQL refuses to run as root: run its tools as the postgres user then.
const asPostgres = (cmd: string, args: string[]) =>
  process.getuid?.() === 0
    ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { stdio: 'pipe', env: { ...process.env, ...childMark() } })
    : execFileSync(join(bin, cmd), args, { stdio: 'pipe', env: { ...process.env, ...childMark() } });

export type OwnPostgres = { url: string; port: number; stop(mode?: 'fast' | 'immediate'): void; start(): void; destroy(): void };

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kubekloud-faults-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const log = join(dir, 'log');
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir]);
  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const start = () =>
    asPostgres('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, 'start']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: (mode = 'immediate') => {
      asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
    },
    start,
    destroy: () => {
      try {
        asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        /* not running */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
