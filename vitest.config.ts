import { configDefaults, defineConfig } from 'vitest/config';

// One suite: pure unit tests, store tests on PGlite / PostgreSQL, and tests that
// drive the real local control plane, which the global setup brings up (or reuses).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fault injection runs on a plane of its own: `npm run test:faults`.
    exclude: ['test/faults/**', ...configDefaults.exclude],
    globalSetup: ['test/setup/children.ts', 'test/setup/plane.ts', 'test/setup/build.ts', 'test/setup/pglite.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Files share their worker's loaded modules instead of importing everything
    // again (about two minutes of the run); a test must not rely on another
    // file's module state, nor leave any behind (pg's type parsers, say).
    isolate: false,
    // Two cores: the control plane needs one of them.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
