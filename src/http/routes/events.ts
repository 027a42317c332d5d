// GET /api/v1/clusters/{id}/events: a cluster's changes as Server-Sent Events,
// so clients watch a cluster without polling the API. What is sent, and when,
// is the event service's (src/service/events.ts); this route checks access
// before the stream starts, writes each event in the SSE format and stops the
// events when the client goes away.
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { Metrics } from '../../observability/metrics.ts';
import { createChangeFeed } from '../../service/changeFeed.ts';
import type { Services } from '../../service/context.ts';
import { clusterEvents, type ClusterEvent } from '../../service/events.ts';
import { principalOf, type Authenticate } from '../auth.ts';
import { protectedRoutes } from './protected.ts';
import { errors, IdParams } from '../../contract/schemas.ts';

export const eventRoutes =
  (s: Services, authenticate: Authenticate, metrics?: Pick<Metrics, 'observeFeedPoll' | 'observeStreamRead'>): FastifyPluginAsync =>
  protectedRoutes(s, authenticate, (app) => {
    // Changes heard as they commit; while they cannot be, one poll of the database per process for all open streams.
    const feed = createChangeFeed(s.db, { changes: s.changes, onPoll: (ok) => metrics?.observeFeedPoll(ok) });
    app.addHook('onClose', async () => feed.stop());
    app.get(
      '/:id/events',
      {
        schema: {
          tags: ['clusters'],
          summary: 'Stream instance status changes (Server-Sent Events)',
          description:
            'text/event-stream. First a `cluster` event with the whole cluster, then an `instance` event (the instance as in GET /api/v1/instances/{id}) whenever one changes, `cluster` when the cluster status changes, and `deleted` once the cluster is gone, which ends the stream. A user may hold KUBEKLOUD_MAX_EVENT_STREAMS_PER_USER streams open across all servers (default 10); one more is refused with 429 and Retry-After. The stream ends as soon as its token stops working (revoked, expired, its user disabled). A comment line every 15 s keeps proxies from closing it. While the database is out of reach the stream stays open (with a comment line saying so) and resumes when it is back.',
          params: IdParams,
          produces: ['text/event-stream'],
          response: { 200: Type.String({ description: 'event stream' }), ...errors(401, 404, 422, 429) },
        },
      },
      async (req, reply) => {
        // One of the user's open streams from now until it ends (429 past the cap, counted across replicas).
        const seat = await req.server.holds.take('event_streams', principalOf(req).userId);
        const raw = reply.raw;
        const gone = new AbortController();
        // The response never finishes on its own: its 'close' is the client going away (or our own end).
        raw.on('close', () => gone.abort());
        const events = clusterEvents(s, principalOf(req), req.params.id, {
          signal: gone.signal,
          feed,
          onRead: () => metrics?.observeStreamRead(),
        });
        let first: IteratorResult<ClusterEvent>;
        try {
          first = await events.next(); // throws, so 404 (or 503) before the stream starts
        } catch (err) {
          seat();
          throw err;
        }
        reply.hijack();
        // A token that stops working (revoked, its user disabled) ends its streams at once.
        let accessEnded = false;
        const unhold = req.server.access.hold(principalOf(req), () => {
          accessEnded = true;
          gone.abort();
        });
        try {
          if (gone.signal.aborted) return;
          raw.writeHead(200, {
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-store',
            connection: 'keep-alive',
            'x-request-id': req.id,
            'x-accel-buffering': 'no',
          });
          let seq = 0;
          const write = (e: ClusterEvent) => {
            if (gone.signal.aborted) return;
            if (e.type === 'keepalive') raw.write(': keep-alive\n\n');
            else if (e.type === 'unavailable') raw.write(': database unavailable, retrying\n\n');
            else raw.write(`id: ${++seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
          };
          if (!first.done) write(first.value);
          for await (const e of events) write(e);
        } finally {
          unhold();
          gone.abort();
          await events.return(undefined); // unsubscribes, if it has not ended already
          seat();
          if (accessEnded && !raw.writableEnded) raw.write(': the token no longer works (revoked, expired, or its user disabled)\n\n');
          raw.end();
        }
      },
    );
  });
