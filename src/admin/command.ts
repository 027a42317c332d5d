// `node dist/main.mjs import-python --from <url> [--dry-run] [--json]`: the
// server's entry point run as an administrative command, with the server's own
// settings (DATABASE_URL or the embedded database, KUBECONFIG or the in-cluster
// account, KUBEKLOUD_INSTALLATION). Exit codes: 0 everything was taken over,
// 3 done but something was not taken over (listed; nothing of it was deleted),
// 1 failed, 2 the command line or the settings were wrong.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/config.ts';
import { createKube, loadKubeConfig } from '../kube/client.ts';
import { openPglite, openPostgres } from '../store/db.ts';
import { importPython, type ImportReport } from './importPython.ts';

const USAGE = `usage: main.mjs import-python --from <python-database-url> [--dry-run] [--json]
                 [--ready-timeout <seconds>] [--instance-quota <n>]

Brings users (tokens stored as hashes), quotas, usage, clusters and instances
of the earlier Python service across, adopts its namespaces and VirtualMachines
in place and replaces each of its bare container pods by a StatefulSet, one at
a time. Its database is only read. --dry-run reports what would be done and
writes nothing anywhere. Running it again changes nothing.`;

export async function runImportPython(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        from: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        'ready-timeout': { type: 'string', default: '300' },
        'instance-quota': { type: 'string', default: '10' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  const readySeconds = Number(args['ready-timeout']);
  const instanceQuota = Number(args['instance-quota']);
  if (!args.from || !(readySeconds > 0) || !Number.isInteger(instanceQuota) || instanceQuota < 0) {
    console.error(USAGE);
    return 2;
  }
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  const db = config.databaseUrl ? openPostgres(config.databaseUrl, { max: 2 }) : await openPglite(config.dataDir);
  try {
    const kube = createKube(loadKubeConfig());
    const json = args.json;
    const report = await importPython(db, kube, {
      from: args.from,
      dryRun: args['dry-run'],
      installation: config.installation,
      readyTimeoutMs: readySeconds * 1000,
      instanceQuota,
      log: json ? undefined : (line) => console.log(line),
    });
    if (json) console.log(JSON.stringify(report, null, 2));
    else console.log(summary(report));
    return report.notTakenOver.length > 0 ? 3 : 0;
  } catch (err) {
    console.error(`import-python failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await db.close();
  }
}

function summary(r: ImportReport): string {
  const count = (a: string) => r.actions.filter((x) => x.action === a).length;
  const lines = [
    `${r.dryRun ? 'dry run, nothing written: ' : ''}${count('create')} to create, ${count('adopt')} adopted, ${count('replace')} replaced, ${count('unchanged')} unchanged, ${r.notTakenOver.length} not taken over, in ${r.durationMs} ms`,
  ];
  if (!r.dryRun && !r.changed) lines.push('nothing changed: everything was imported and taken over before');
  if (r.weakTokens.length > 0) lines.push(`weak tokens (shorter than 16 characters, still accepted; replace them): ${r.weakTokens.join(', ')}`);
  return lines.join('\n');
}
