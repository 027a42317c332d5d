// Global setup of `npm run test:faults`: a control plane of its own, never the
// default one (the fault scenarios kill and stop its components).
import { defaultStateDir, stateDir } from '../../../testenv/harness/config.ts';
import { ensurePlane, stopPlane } from '../../../testenv/harness/plane.ts';

export default async function setup(): Promise<() => Promise<void>> {
  if (stateDir === defaultStateDir) {
    throw new Error('fault tests need a plane of their own: set KUBEKLOUD_PLANE_DIR (vitest.faults.config.ts does)');
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const plane = await ensurePlane({ log });
  process.env.KUBECONFIG = plane.kubeconfigPath;
  process.env.KUBEKLOUD_TEST_KUBECONFIG = plane.kubeconfigPath;
  log(`fault plane ${plane.startedHere ? 'started' : 'reused'} (${plane.apiURL}, state in ${stateDir})`);
  return async () => {
    if (!process.env.KUBEKLOUD_PLANE_KEEP) await stopPlane();
  };
}
