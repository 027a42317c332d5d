// Readiness: can this replica do its work? The database answers with every
// migration this build knows applied, and the Kubernetes API server answers.
// Each check gets 2 s; the answer names each check, 'ok' or why not. GET /ready
// turns it into 200 or 503, so a replica that cannot reach either leaves the
// Service.
import { migrationsApplied } from '../store/migrate.ts';
import type { Services } from './context.ts';

export type Readiness = () => Promise<Record<string, string>>;

export const CHECK_TIMEOUT_MS = 2000;
/** /health is a liveness probe (3 s timeout in k8s/): its database line must never hold it up for long. */
export const HEALTH_DATABASE_TIMEOUT_MS = 1000;

/**
 * The `database` line of GET /health, as the Python service had it: 'connected'
 * when the database answers within a second, else 'unreachable'. Informative
 * only: liveness does not depend on it (a database outage must not get every
 * replica restarted); readiness does.
 */
export async function databaseStatus(s: Pick<Services, 'db'>): Promise<'connected' | 'unreachable'> {
  return (await check(() => migrationsApplied(s.db), HEALTH_DATABASE_TIMEOUT_MS)) === 'ok' ? 'connected' : 'unreachable';
}

/** `kube` is anything that answers a ping (the Kubernetes client); null when none is configured. */
export function createReadiness(s: Pick<Services, 'db'>, kube: { ping(): Promise<unknown> } | null): Readiness {
  return async () => {
    const [database, kubernetes] = await Promise.all([
      check(async () => {
        if (!(await migrationsApplied(s.db))) throw new Error('migrations not applied');
      }),
      kube ? check(() => kube.ping()) : Promise.resolve('not configured'),
    ]);
    return { database, kubernetes };
  };
}

async function check(fn: () => Promise<unknown>, timeoutMs = CHECK_TIMEOUT_MS): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return `unreachable: ${(err as Error).message}`.slice(0, 300);
  } finally {
    clearTimeout(timer);
  }
}
