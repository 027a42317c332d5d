// `npm run build` (scripts/build.ts), the one build step, in a copy of the
// repository's sources (so the suite's own dist/ and console/dist/, which other
// tests serve, are never rebuilt under them): after it the server started from
// dist/ serves the web console; a second build with nothing changed skips both
// parts; a change to a console source rebuilds the console and only it.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { childMark } from '../support/children.ts';
import { eventually, repoRoot, testKubeconfigPath } from '../support/kube.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { freePort, SERVER_NODE_FLAGS } from '../support/server.ts';

const copy = mkdtempSync(join(tmpdir(), 'kubekloud-build-'));
for (const p of ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts/build.ts', 'src', 'console/src', 'console/index.html', 'console/tsconfig.json', 'console/vite.config.ts']) {
  cpSync(join(repoRoot, p), join(copy, p), { recursive: true });
}
// The packages are the repository's; what is built, and where, is the copy's.
symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'));
afterAll(() => rmSync(copy, { recursive: true, force: true }));

function npmRunBuild(): { out: string; seconds: number } {
  const started = performance.now();
  const r = spawnSync('npm', ['run', 'build'], { cwd: copy, encoding: 'utf8', timeout: 170_000 });
  const out = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`npm run build exited ${r.status}:\n${out}`);
  return { out, seconds: (performance.now() - started) / 1000 };
}
const mtime = (p: string) => statSync(join(copy, p)).mtimeMs;

it('builds the server and the console, and the server started from dist/ serves /console', async () => {
  const cold = npmRunBuild();
  process.stderr.write(`npm run build, cold: ${cold.seconds.toFixed(1)} s\n`);
  expect(cold.out).toMatch(/build: server built \(dist\/main\.mjs missing\)/);
  expect(cold.out).toMatch(/build: console built \(console\/dist\/index\.html missing\)/);
  // V8 keeps the bundle's text for as long as the server runs, at two bytes a
  // character if a single one is outside Latin-1: the bundle is ASCII only.
  for (const bundle of ['dist/main.mjs', 'dist/cli.mjs']) {
    const bytes = readFileSync(join(copy, bundle));
    expect(bytes.findIndex((b) => b > 0x7f), `${bundle}: first non-ASCII byte`).toBe(-1);
  }

  const db = await createTestDatabase();
  const port = await freePort();
  let out = '';
  const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, 'dist/main.mjs'], {
    cwd: copy,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      KUBEKLOUD_METRICS_PORT: String(await freePort()),
      HOST: '127.0.0.1',
      DATABASE_URL: db.url,
      KUBECONFIG: testKubeconfigPath,
      KUBEKLOUD_ADMIN_TOKEN: `build-admin-${port}-0123456789`,
      KUBEKLOUD_RECONCILER: 'false',
      LOG_LEVEL: 'warn',
      ...childMark(),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  try {
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => (await fetch(`${url}/health`).catch(() => null))?.ok || undefined, 30_000, `server from dist/ up:\n${out}`);
    const page = await fetch(`${url}/console`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const html = await page.text();
    expect(html).toContain('<div id="root">');
    // Its script is served too: the build, not a placeholder.
    const script = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect((await fetch(`${url}${script}`)).status).toBe(200);
  } finally {
    proc.kill('SIGTERM');
    await db.drop();
  }
}, 180_000);

it('skips both parts when nothing changed, and rebuilds only the console when a console source changed', () => {
  const server = mtime('dist/main.mjs');
  const page = mtime('console/dist/index.html');

  const warm = npmRunBuild();
  process.stderr.write(`npm run build, nothing changed: ${warm.seconds.toFixed(1)} s\n`);
  expect(warm.out).toContain('build: server up to date, skipped');
  expect(warm.out).toContain('build: console up to date, skipped');
  expect(mtime('dist/main.mjs')).toBe(server);
  expect(mtime('console/dist/index.html')).toBe(page);

  appendFileSync(join(copy, 'console', 'src', 'main.tsx'), '\n// changed\n');
  const consoleOnly = npmRunBuild();
  process.stderr.write(`npm run build, a console source changed: ${consoleOnly.seconds.toFixed(1)} s\n`);
  expect(consoleOnly.out).toContain('build: server up to date, skipped');
  expect(consoleOnly.out).toMatch(/build: console built \(sources changed since the last build\)/);
  expect(mtime('dist/main.mjs')).toBe(server);
  expect(mtime('console/dist/index.html')).toBeGreaterThan(page);

  // A server source changed: the server only.
  appendFileSync(join(copy, 'src', 'main.ts'), '\n// changed\n');
  const serverOnly = npmRunBuild();
  expect(serverOnly.out).toMatch(/build: server built \(sources changed since the last build\)/);
  expect(serverOnly.out).toContain('build: console up to date, skipped');
  expect(readFileSync(join(copy, 'dist', '.build', 'server.json'), 'utf8')).toMatch(/"inputs":"[0-9a-f]{64}"/);
}, 180_000);
