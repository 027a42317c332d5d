// Closing with a keep-alive client: a request in flight when close() begins is
// answered, its answer says `Connection: close`, the server ends that
// connection, and close() resolves, instead of waiting out the keep-alive
// timeout for a connection that went idle after close() had looked.
import { request, Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { buildApp } from '../../src/http/app.ts';
import { buildMetricsApp } from '../../src/http/metricsApp.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { openPglite, type Db } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';

let db: Db | null = null;
afterAll(async () => {
  await db?.close();
});

/** Sends GET `path` over a keep-alive agent; resolves with the answer's headers and a promise of its socket's end. */
function get(port: number, path: string) {
  const agent = new Agent({ keepAlive: true });
  return new Promise<{ status: number; connection: string | undefined; socketClosed: Promise<void> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      const socketClosed = new Promise<void>((done) => res.socket.once('close', () => done()));
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, socketClosed }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An in-flight request on `app`, held until released; close() begun meanwhile. */
async function closeDuringRequest(app: FastifyInstance, path: string, held: { release: () => void; entered: Promise<void> }) {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  // Before close: answers keep the connection.
  const before = await get(port, '/nothing-here');
  expect(before.connection).toBe('keep-alive');
  const answer = get(port, path);
  await held.entered;
  const closed = app.close();
  // Released once close() has stopped the listener, so that the answer is sent while closing.
  while (app.server.listening) await new Promise((r) => setImmediate(r));
  held.release();
  const res = await answer;
  expect(res.status).toBe(200);
  expect(res.connection).toBe('close');
  await res.socketClosed;
  await closed;
}

function gate() {
  let release!: () => void;
  let enter!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const entered = new Promise<void>((r) => (enter = r));
  return { release, entered, wait: async () => (enter(), released) };
}

describe('closing with keep-alive clients', () => {
  it('the API: the answer to a request in flight closes its connection, and close() ends', async () => {
    db = await openPglite(null);
    await migrate(db);
    const g = gate();
    const metrics = createMetrics({ poolStats: () => ({ total: 1, idle: 1, waiting: 0 }), queueDepth: async () => ({ depth: 0, lagSeconds: 0 }) });
    const app = await buildApp({ db, config: loadConfig({}), metrics, readiness: async () => (await g.wait(), {}), wake: () => {} });
    await closeDuringRequest(app, '/ready', g);
  });

  it('the metrics listener: the same', async () => {
    const g = gate();
    const app = await buildMetricsApp({ metricsText: async () => (await g.wait(), '# nothing\n') });
    await closeDuringRequest(app, '/metrics', g);
  });
});
