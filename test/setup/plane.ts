// Vitest global setup: the real local control plane for every test run.
// An already running plane (`npm run cluster:up`) is reused and left running;
// a plane started here is stopped again after the run.
import { ensurePlane, stopPlane } from '../../testenv/harness/plane.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const plane = await ensurePlane({ log });
  process.env.KUBECONFIG = plane.kubeconfigPath;
  process.env.KUBEKLOUD_TEST_KUBECONFIG = plane.kubeconfigPath;
  if (plane.startedHere) log(`local control plane started for this test run (${plane.apiURL})`);
  return async () => {
    if (plane.startedHere && !process.env.KUBEKLOUD_PLANE_KEEP) await stopPlane();
  };
}
