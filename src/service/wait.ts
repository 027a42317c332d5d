// ?wait=<seconds>: answer once Kubernetes has converged, or say why not:
// the time ran out, or an instance failed (then waiting longer will not help).
// What "converged" means is src/domain/convergence.ts; this is the polling.
import type { Waited } from '../contract/schemas.ts';
import type { Convergence } from '../domain/convergence.ts';

export type WaitOutcome = Waited;

const POLL_MS = 250;

export async function waitUntil(check: () => Promise<Convergence>, seconds: number): Promise<WaitOutcome> {
  const started = Date.now();
  const deadline = started + seconds * 1000;
  const elapsed = () => (Date.now() - started) / 1000;
  for (;;) {
    const state = await check();
    if (state === 'converged') return { converged: true, waited_seconds: elapsed() };
    if (state === 'failed') return { converged: false, failed: true, waited_seconds: elapsed() };
    if (Date.now() >= deadline) return { converged: false, waited_seconds: elapsed() };
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))));
  }
}
