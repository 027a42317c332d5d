// Vitest global setup: build the server once (dist/main.mjs), so that every
// test that spawns it runs what production runs.
import { buildServer } from '../../scripts/build-server.ts';

export default async function setup(): Promise<void> {
  const started = performance.now();
  await buildServer();
  process.stderr.write(`server built into dist/ in ${Math.round(performance.now() - started)} ms\n`);
}
