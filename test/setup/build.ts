// Vitest global setup: `npm run build` (scripts/build.ts), so that every test
// that starts the server runs what production runs, dist/main.mjs, and the web
// console it serves is built. Each part is rebuilt only when its sources
// changed, so a run after an up-to-date build costs a hash of the sources.
import { build } from '../../scripts/build.ts';

export default async function setup(): Promise<void> {
  await build();
}
