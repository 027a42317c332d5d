// The readiness checks (src/service/readiness.ts): the database with every
// migration applied, Kubernetes answering a ping, each within 2 s.
import { afterEach, expect, it } from 'vitest';
import { createReadiness } from '../../src/service/readiness.ts';
import { openPglite, type Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';

const opened: Db[] = [];
const database = async (migrated: boolean) => {
  const db = await openPglite(null);
  opened.push(db);
  if (migrated) await migrate(db);
  return db;
};
afterEach(async () => {
  for (const db of opened.splice(0)) await db.close();
});

it('says ok for a migrated database and a Kubernetes that answers', async () => {
  expect(await createReadiness({ db: await database(true) }, { ping: async () => {} })()).toEqual({ database: 'ok', kubernetes: 'ok' });
});

it('says why not: migrations missing, no Kubernetes configured, a ping that fails', async () => {
  const db = await database(false);
  await db.exec('CREATE TABLE schema_migrations (version int PRIMARY KEY)');
  expect(await createReadiness({ db }, null)()).toEqual({ database: 'unreachable: migrations not applied', kubernetes: 'not configured' });
  const failing = { ping: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6443')) };
  expect((await createReadiness({ db: await database(true) }, failing)()).kubernetes).toBe('unreachable: connect ECONNREFUSED 127.0.0.1:6443');
});

it('gives each check 2 s', async () => {
  const readiness = createReadiness({ db: await database(true) }, { ping: () => new Promise(() => {}) });
  const started = performance.now();
  const checks = await readiness();
  const took = performance.now() - started;
  expect(checks).toEqual({ database: 'ok', kubernetes: 'unreachable: no answer within 2000 ms' });
  expect(took).toBeGreaterThanOrEqual(1900);
  expect(took).toBeLessThan(3500);
});
