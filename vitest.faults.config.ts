import { configDefaults, defineConfig } from 'vitest/config';

// `npm run test:faults`: faults injected into a control plane of its own
// (state in .kubekloud/faults, ports 273xx/272xx), so the default plane that
// `npm test` and `npm run cluster:up` use is never disturbed. One file at a time:
// the scenarios stop and kill the plane's components and PostgreSQL.
process.env.KUBEKLOUD_PLANE_DIR ??= '.kubekloud/faults';
process.env.KUBEKLOUD_PLANE_ETCD_PORT ??= '27379';
process.env.KUBEKLOUD_PLANE_ETCD_PEER_PORT ??= '27380';
process.env.KUBEKLOUD_PLANE_APISERVER_PORT ??= '27443';
process.env.KUBEKLOUD_PLANE_CONTROLLER_MANAGER_PORT ??= '27257';
process.env.KUBEKLOUD_PLANE_SCHEDULER_PORT ??= '27259';
process.env.KUBEKLOUD_PLANE_KWOK_PORT ??= '27247';
process.env.KUBEKLOUD_PLANE_KUBEVIRT_PORT ??= '27244';
process.env.KUBEKLOUD_PLANE_NODES ??= '6';

export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    exclude: [...configDefaults.exclude],
    globalSetup: ['test/setup/children.ts', 'test/faults/support/setup.ts', 'test/setup/build.ts'],
    testTimeout: 600_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    minWorkers: 1,
    // No second chances: a scenario that fails once has found something.
    retry: 0,
  },
});
