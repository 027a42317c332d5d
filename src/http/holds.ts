// The per-user caps on connections held open (src/service/holds.ts) at the
// edge: a request with ?wait= takes its seat before anything is done, so a
// refusal (429) changes nothing, and gives it back when its wait ends or its
// answer is sent; an event stream holds its seat while it is open.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Convergence } from '../domain/convergence.ts';
import type { Services } from '../service/context.ts';
import type { AccessWatch } from '../service/accessWatch.ts';
import type { Holds, Release } from '../service/holds.ts';
import { waitUntil, type WaitOutcome } from '../service/wait.ts';
import { isDryRun } from './dryRun.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The held connections per user, counted across replicas. */
    holds: Holds;
    /** Ends held-open connections whose token stops working. */
    access: AccessWatch;
  }
  interface FastifyRequest {
    /** The ?wait= seat this request holds, if any. */
    waitSeat?: Release;
  }
}

/** A preHandler (after authentication and validation): a request asking to wait takes a seat first. */
export async function takeWaitSeat(req: FastifyRequest): Promise<void> {
  const wait = (req.query as { wait?: unknown } | undefined)?.wait;
  if (typeof wait !== 'number' || wait <= 0 || !req.principal || isDryRun(req)) return;
  req.waitSeat = await req.server.holds.take('waits', req.principal.userId, Date.now() + wait * 1000);
}

/** Gives back the request's ?wait= seat (again is harmless): on its answer, whatever it was. */
export function releaseWaitSeat(req: FastifyRequest): void {
  req.waitSeat?.();
}

/** ?wait=: until converged, the time is up or the client has gone, woken by the changes this process hears of; the seat is given back at the end. */
export async function waitFor(
  s: Services,
  req: FastifyRequest,
  check: () => Promise<Convergence>,
  seconds: number,
  clusterId?: number,
): Promise<WaitOutcome> {
  // A client that goes away stops its wait, and its seat is free at once.
  const gone = new AbortController();
  const onClose = () => gone.abort();
  req.socket.once('close', onClose);
  try {
    return await waitUntil(check, seconds, { changes: s.changes, clusterId, signal: gone.signal });
  } finally {
    req.socket.off('close', onClose);
    releaseWaitSeat(req);
  }
}

export function decorateHolds(app: FastifyInstance, holds: Holds, access: AccessWatch): void {
  app.decorate('holds', holds);
  app.decorate('access', access);
  app.addHook('onClose', async () => access.stop());
  app.addHook('onResponse', (req, _reply, done) => {
    releaseWaitSeat(req);
    done();
  });
}
