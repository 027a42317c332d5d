// ?wait=<seconds>: answer once Kubernetes has converged, or say the time ran out.

export type WaitOutcome = { converged: boolean; waited_seconds: number };

const POLL_MS = 250;

export async function waitUntil(done: () => Promise<boolean>, seconds: number): Promise<WaitOutcome> {
  const started = Date.now();
  const deadline = started + seconds * 1000;
  for (;;) {
    if (await done()) return { converged: true, waited_seconds: (Date.now() - started) / 1000 };
    if (Date.now() >= deadline) return { converged: false, waited_seconds: (Date.now() - started) / 1000 };
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))));
  }
}
