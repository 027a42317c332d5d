// The CLI's typed client against the server's own OpenAPI document: every
// method and path the CLI calls exists there, and every /api/v1 operation has
// a CLI call (or is named here as deliberately left to other clients).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/cli/client.ts';
import { buildTestApp, type TestApp } from '../support/app.ts';

/** Operations the CLI does not call, with the reason. */
const NOT_IN_CLI: Record<string, string> = {
  'GET /api/v1/clusters/{id}/events': 'a Server-Sent Events stream for live views (the web console); --wait polls instead',
  'GET /api/v1/instances/{id}/vnc': 'a graphical stream (RFB) for a VNC viewer: the web console shows it',
};

let t: TestApp;
let doc: { paths: Record<string, Record<string, unknown>> };
beforeAll(async () => {
  t = await buildTestApp();
  const res = await t.call('GET', '/openapi.json', null);
  expect(res.status).toBe(200);
  doc = res.body;
});
afterAll(async () => {
  await t?.close();
});

describe('CLI routes vs /openapi.json', () => {
  it('every route the CLI calls is in the document with its method', () => {
    const missing = Object.entries(ROUTES)
      .filter(([, [method, path]]) => !doc.paths[path]?.[method.toLowerCase()])
      .map(([name, [method, path]]) => `${name}: ${method} ${path}`);
    expect(missing).toEqual([]);
  });

  it('every /api/v1 operation in the document is called by the CLI, or deliberately not', () => {
    const used = new Set(Object.values(ROUTES).map(([m, p]) => `${m} ${p}`));
    const uncovered = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/api/v1/'))
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .filter((op) => !used.has(op) && !NOT_IN_CLI[op]);
    expect(uncovered).toEqual([]);
  });
});
