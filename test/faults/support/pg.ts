// A PostgreSQL server of the fault run's own (initdb in a temporary directory,
// its own port on 127.0.0.1), so it can really be stopped and started without
// touching the server every other test and engineer on the machine uses.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
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

/**
 * asPostgres without blocking the event loop: needed whenever the server
 * being started or copied talks through a proxy living in this process.
 */
const asPostgresAsync = async (cmd: string, args: string[]): Promise<string> => {
  const env = { ...process.env, ...childMark() };
  const [file, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] : [join(bin, cmd), args];
  try {
    return (await promisify(execFile)(file, argv, { env })).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
};

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

/** psql as the postgres user over the server's socket directory, for setup statements. */
const psql = async (dir: string, port: number, sql: string) =>
  (await asPostgresAsync('psql', ['-h', dir, '-p', String(port), '-U', 'postgres', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql])).trim();

export type PgNode = {
  port: number;
  /** The data directory, for pg_ctl. */
  data: string;
  /** A statement as the postgres superuser on this server (its socket, no proxy). */
  sql(statement: string): Promise<string>;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
};

export type ReplicatedPostgres = {
  primary: PgNode;
  standby: PgNode & {
    /** pg_ctl promote -w: returns once it accepts writes. */
    promote(): Promise<void>;
  };
  /** The name the standby reports to the primary (its cluster_name), listed in synchronous_standby_names. */
  standbyName: string;
  slot: string;
  destroy(): Promise<void>;
};

/**
 * Two servers in streaming replication, each on its own 127.0.0.1 port: a
 * primary (wal_level=replica, a REPLICATION role, a physical slot) and a
 * standby made by `pg_basebackup -R` from it. Synchronous replication:
 * `synchronous_standby_names = '<standby>'` (a single name: FIRST 1) with the
 * default `synchronous_commit = on`, so a COMMIT returns only once the
 * standby has flushed its WAL.
 *
 * The primary names its synchronous standby only once the standby streams
 * (ALTER SYSTEM, then a reload), as an operator would: named earlier, every
 * commit of the setup would wait for a standby that does not exist yet. The
 * standby's copy of the data directory was taken before, so a promoted standby
 * names none and does not wait for itself.
 *
 * `replicationVia(primaryPort)`, when given, returns the port the standby
 * connects to for its WAL stream (a proxy in front of the primary, so a test
 * can cut the replication link on its own). `synchronous: false` leaves
 * synchronous_standby_names empty (asynchronous replication: a commit returns
 * before the standby has it), to show what the synchronous setting guards.
 */
export async function startReplicatedPostgres(
  o: { replicationVia?: (primaryPort: number) => Promise<number>; synchronous?: boolean } = {},
): Promise<ReplicatedPostgres> {
  const synchronous = o.synchronous ?? true;
  const dir = mkdtempSync(join(tmpdir(), 'kubekloud-faults-pgrepl-'));
  chmodSync(dir, 0o777);
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dir]);
  const standbyName = 'kk_standby';
  const slot = 'kk_standby_slot';
  const [primaryPort, standbyPort] = [await freePort(), await freePort()];
  const node = (name: string, port: number, options: string): PgNode & { start(): Promise<unknown> } => {
    const data = join(dir, name);
    const log = join(dir, `${name}.log`);
    return {
      port,
      data,
      sql: (statement) => psql(dir, port, statement),
      start: () => asPostgresAsync('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 ${options}`, 'start']),
      stop: async (mode = 'immediate') => {
        await asPostgresAsync('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']);
      },
    };
  };
  const primary = node('primary', primaryPort, `-c wal_level=replica -c max_wal_senders=5 -c max_replication_slots=5 -c synchronous_commit=on`);
  const standby = node('standby', standbyPort, `-c hot_standby=on -c cluster_name=${standbyName}`);
  const destroy = async () => {
    for (const n of [standby, primary]) await n.stop('immediate').catch(() => {}); // not running
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await asPostgresAsync('initdb', ['-D', primary.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    await primary.start();
    // initdb's pg_hba.conf (trust) already lets 127.0.0.1 connect for replication.
    await primary.sql('CREATE ROLE replicator WITH REPLICATION LOGIN');
    const replPort = o.replicationVia ? await o.replicationVia(primaryPort) : primaryPort;
    // -C -S: the slot is created on the primary, so it keeps the WAL the standby has not yet received.
    await asPostgresAsync('pg_basebackup', ['-D', standby.data, '-h', '127.0.0.1', '-p', String(replPort), '-U', 'replicator', '-X', 'stream', '-C', '-S', slot, '-R', '--no-sync', '-c', 'fast']);
    await standby.start();
    if (synchronous) await primary.sql(`ALTER SYSTEM SET synchronous_standby_names = '${standbyName}'`);
    await primary.sql('SELECT pg_reload_conf()');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const state = await primary.sql(`SELECT sync_state FROM pg_stat_replication WHERE application_name = '${standbyName}'`);
      if (state === (synchronous ? 'sync' : 'async')) break;
      if (Date.now() > deadline) throw new Error(`the standby did not become the synchronous standby (state: '${state}')`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (e) {
    await destroy();
    throw e;
  }
  return {
    primary,
    standby: { ...standby, promote: async () => void (await asPostgresAsync('pg_ctl', ['-D', standby.data, '-w', '-t', '60', 'promote'])) },
    standbyName,
    slot,
    destroy,
  };
}
