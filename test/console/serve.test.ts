// The console's static files route on its own (no database, no Kubernetes):
// an unbuilt console answers 404 saying how to build it; paths stay inside
// the build; the console's CSP replaces the API's only on its own answers.
import Fastify from 'fastify';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CONSOLE_CSP, consoleRoutes } from '../../src/http/routes/console.ts';

const dir = mkdtempSync(join(tmpdir(), 'kubekloud-console-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function appFor(dist: string) {
  const app = Fastify({ routerOptions: { ignoreTrailingSlash: true } });
  await app.register(consoleRoutes(dist));
  return app;
}

it('answers 404 with how to build it while the console is not built', async () => {
  const app = await appFor(join(dir, 'missing'));
  for (const url of ['/console', '/console/', '/console/clusters/1']) {
    const res = await app.inject({ url });
    expect(res.statusCode).toBe(404);
    expect(res.json().detail).toContain('npm run build');
  }
});

it('serves files, falls back to index.html for app paths, and never leaves the build', async () => {
  const dist = join(dir, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>console</title>');
  writeFileSync(join(dist, 'assets', 'app-1234.js'), 'console.log(1)');
  writeFileSync(join(dir, 'secret.json'), '{"secret":true}');
  const app = await appFor(dist);

  const index = await app.inject({ url: '/console' });
  expect(index.statusCode).toBe(200);
  expect(index.headers['content-type']).toContain('text/html');
  expect(index.headers['content-security-policy']).toBe(CONSOLE_CSP);
  expect(index.headers['cache-control']).toBe('no-cache');

  const js = await app.inject({ url: '/console/assets/app-1234.js' });
  expect(js.statusCode).toBe(200);
  expect(js.headers['content-type']).toContain('text/javascript');
  expect(js.headers['cache-control']).toContain('immutable');

  expect((await app.inject({ url: '/console/tokens' })).body).toContain('<title>console</title>');
  expect((await app.inject({ url: '/console/assets/gone.js' })).statusCode).toBe(404);
  for (const url of ['/console/..%2fsecret.json', '/console/%2e%2e/secret.json', '/console/..%252fsecret.json', '/console/%E0%A4%A']) {
    const res = await app.inject({ url });
    expect(res.body).not.toContain('"secret":true');
  }
});
