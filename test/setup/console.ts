// Vitest global setup: the web console's static build (console/dist), which
// the server serves at /console. Built only when missing or older than its
// sources, so a run with an up-to-date build costs nothing.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const consoleDir = fileURLToPath(new URL('../../console', import.meta.url));

function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(path).map((n) => newest(join(path, n))));
}

export function consoleIsStale(): boolean {
  const built = join(consoleDir, 'dist', 'index.html');
  if (!existsSync(built)) return true;
  const sources = ['src', 'index.html', 'vite.config.ts'].map((p) => join(consoleDir, p)).filter(existsSync);
  return Math.max(...sources.map(newest)) > statSync(built).mtimeMs;
}

export default async function setup(): Promise<void> {
  if (!consoleIsStale()) return;
  const started = Date.now();
  // A process of its own, in production mode whatever NODE_ENV the test runner set.
  const vite = fileURLToPath(new URL('../../node_modules/vite/bin/vite.js', import.meta.url));
  execFileSync(process.execPath, [vite, 'build', '--config', join(consoleDir, 'vite.config.ts')], {
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  process.stderr.write(`web console built into console/dist in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
