import { defineConfig } from 'vitest/config';

// One suite: pure unit tests, store tests on PGlite / PostgreSQL, and tests that
// drive the real local control plane, which the global setup brings up (or reuses).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/plane.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Two cores: the control plane needs one of them.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
