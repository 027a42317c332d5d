#!/usr/bin/env node
// Launcher for the kubekloud CLI. It runs the bundle `npm run build` makes,
// dist/cli.mjs, when that is newer than every source under src/ (a tenth of
// the start-up time); otherwise (never built, or sources changed since) the
// TypeScript sources, compiled on load by tsx.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/cli.mjs', import.meta.url);
const sources = fileURLToPath(new URL('../src/', import.meta.url));

/** The newest modification time of any file under `dir` (0: none). */
function newest(dir) {
  let latest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    latest = Math.max(latest, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return latest;
}

if (existsSync(built) && (!existsSync(sources) || statSync(built).mtimeMs >= newest(sources))) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
