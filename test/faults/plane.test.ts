// Control plane components stopped or killed under a steady load: reads keep
// answering from the database, writes are accepted as pending, and once the
// component is back everything converges with no duplicate or missing object
// and quota usage equal to what exists.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadComponents, killComponent, restartComponent, startComponent, type ComponentName } from '../../testenv/harness/plane.ts';
import { loadTestKubeConfig } from '../support/kube.ts';
import { startServer, type ServerProcess } from '../support/server.ts';
import { startLoad, summarise, waitConverged } from './support/load.ts';
import { clearTenants, LOAD_ENV, record, sleep, tenants } from './support/scenario.ts';
import { controlWorkload, dueWork } from './support/recovery.ts';

const kc = loadTestKubeConfig();
let server: ServerProcess;
beforeAll(async () => {
  server = await startServer({ env: LOAD_ENV });
});
afterAll(async () => {
  // Whatever happened, leave every component running for the next file.
  for (const name of deadComponents()) await startComponent(name).catch(() => {});
  await server?.stop();
});

const RPS = 8;
const CONVERGE_WITHIN_MS = 120_000;

async function scenario(name: string, fault: () => Promise<unknown>) {
  const ts = await tenants([server.admin], 3);
  const control = await controlWorkload(kc);
  const load = startLoad({ tenants: ts, rps: RPS, durationMs: 10 * 60_000 });
  await sleep(5000);
  const faultFrom = Date.now();
  await fault();
  const faultTo = Date.now(); // the component answers its health check (the API server: /readyz) again
  // From here two clocks run: the work KubeKloud had accepted but not yet
  // applied, and a control StatefulSet created now directly on the plane.
  const [applied, plane] = [
    dueWork(server.env.DATABASE_URL!).then((w) => w.allApplied()).catch((e) => ({ ms: -1, rows: 0, late: [String(e)] })),
    control.timeToReadyMs().catch(() => -1),
  ];
  await sleep(10_000);
  const result = await load.stop();
  const { ms, planeSettledMs, last } = await waitConverged(kc, ts, server.installation, CONVERGE_WITHIN_MS - (Date.now() - faultTo));
  const all = summarise(result);
  const during = summarise(result, { from: faultFrom, to: faultTo });
  const figures = {
    faultMs: faultTo - faultFrom,
    convergedMsAfterReturn: Date.now() - faultTo,
    // The product's share: until every row due at the return was applied.
    productAppliedMsAfterReturn: (await applied).ms,
    dueAtReturn: (await applied).rows,
    lateAfter5s: (await applied).late,
    // The plane's own lag: a StatefulSet created at the return, until its pod is ready.
    planeControlMsAfterReturn: await plane,
    planeSettledMsAfterLoad: planeSettledMs,
    convergeCheckMs: ms,
    clusters: last.clusters,
    instances: last.instances,
    all,
    during,
    dead: deadComponents(),
  };
  record(name, figures);
  await control.remove();
  await clearTenants(ts);
  return figures;
}

function expectSurvived(f: Awaited<ReturnType<typeof scenario>>) {
  expect(f.during.readsOk).toBeGreaterThanOrEqual(0.99);
  expect(f.all.readsOk).toBeGreaterThanOrEqual(0.99);
  // Writes are accepted (as pending) while Kubernetes is away: none ends in 5xx.
  expect(f.all.writesFailed).toBe(0);
  expect(f.convergedMsAfterReturn).toBeLessThanOrEqual(CONVERGE_WITHIN_MS);
  // KubeKloud's own share of the recovery.
  expect(f.productAppliedMsAfterReturn).toBeLessThan(15_000);
  expect(f.dead).toEqual([]);
}

describe('kube-apiserver stopped for 30 s under load', () => {
  it('keeps answering reads, accepts writes as pending, converges after it returns', async () => {
    const f = await scenario('kube-apiserver-stopped-30s', async () => {
      await killComponent('kube-apiserver', 'SIGTERM');
      await sleep(30_000);
      await startComponent('kube-apiserver');
    });
    expectSurvived(f);
  });
});

describe.each<ComponentName>(['etcd', 'kube-controller-manager', 'kube-scheduler', 'kwok'])('%s killed with SIGKILL under load', (name) => {
  it('loses nothing and converges after the restart', async () => {
    const f = await scenario(`${name}-sigkill`, () => restartComponent(name, { signal: 'SIGKILL', downForMs: 5000 }));
    expectSurvived(f);
  });
});
