// Every process a test starts (API servers, PostgreSQL servers, browsers)
// carries KUBEKLOUD_TEST_CHILD=<run id> in its environment, so the suite's
// global teardown can find any that outlived their test (test/setup/children.ts).

export const CHILD_MARKER = 'KUBEKLOUD_TEST_CHILD';

/** The environment entry that marks a process as this test run's child. */
export function childMark(): Record<string, string> {
  const id = process.env.KUBEKLOUD_TEST_RUN_ID;
  return id ? { [CHILD_MARKER]: id } : {};
}
