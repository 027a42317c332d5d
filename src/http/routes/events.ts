// GET /api/v1/clusters/{id}/events: instance status changes as Server-Sent
// Events, so clients watch a cluster without polling the API. The streams of
// one process share a single poll of the database (the one truth every
// replica shares) that tells a stream when its cluster changed; the stream
// then reads the cluster as its caller may see it and sends only what
// changed. It also reads again every 15 s whatever the poll says. While the
// database is out of reach the stream stays open and says so in a comment
// line; it ends only when the cluster is gone.
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { DomainError } from '../../domain/errors.ts';
import { createChangeFeed } from '../../service/changeFeed.ts';
import * as clusters from '../../service/clusters.ts';
import type { Services } from '../../service/context.ts';
import { principalOf, type Authenticate } from '../auth.ts';
import type { Metrics } from '../../observability/metrics.ts';
import { protectedRoutes } from './protected.ts';
import { errors, IdParams } from '../schemas.ts';

const HEARTBEAT_MS = 15_000;
const REREAD_MS = 15_000;

export const eventRoutes =
  (s: Services, authenticate: Authenticate, metrics?: Pick<Metrics, 'observeFeedPoll' | 'observeStreamRead'>): FastifyPluginAsync =>
  protectedRoutes(s, authenticate, (app) => {
    const feed = createChangeFeed(s.db, { onPoll: (ok) => metrics?.observeFeedPoll(ok) });
    app.addHook('onClose', async () => feed.stop());
    app.get(
      '/:id/events',
      {
        schema: {
          tags: ['clusters'],
          summary: 'Stream instance status changes (Server-Sent Events)',
          description:
            'text/event-stream. First a `cluster` event with the whole cluster, then an `instance` event (the instance as in GET /api/v1/instances/{id}) whenever one changes, `cluster` when the cluster status changes, and `deleted` once the cluster is gone, which ends the stream. A comment line every 15 s keeps proxies from closing it. While the database is out of reach the stream stays open (with a comment line saying so) and resumes when it is back.',
          params: IdParams,
          produces: ['text/event-stream'],
          response: { 200: Type.String({ description: 'event stream' }), ...errors(401, 404, 422) },
        },
      },
      async (req, reply) => {
        const p = principalOf(req);
        const first = await clusters.getCluster(s, p, req.params.id); // 404 before the stream starts
        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
          'x-request-id': req.id,
          'x-accel-buffering': 'no',
        });
        let seq = 0;
        const send = (event: string, data: unknown) => raw.write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        const { instances: firstInstances, ...firstCluster } = first;
        send('cluster', first);
        const seen = new Map(firstInstances.map((i) => [i.id, JSON.stringify(i)]));
        let clusterState = JSON.stringify([firstCluster.status, firstCluster.instance_count]);
        let closed = false;
        let changed = false;
        let wake: (() => void) | null = null;
        let lastWrite = Date.now();
        let lastRead = Date.now();
        const unsubscribe = feed.subscribe(req.params.id, () => {
          changed = true;
          wake?.();
        });
        req.raw.on('close', () => {
          closed = true;
          wake?.();
        });
        while (!closed) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, Math.min(HEARTBEAT_MS, REREAD_MS));
            wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          wake = null;
          if (closed) break;
          if (changed || Date.now() - lastRead >= REREAD_MS) {
            changed = false;
            lastRead = Date.now();
            metrics?.observeStreamRead();
            let current;
            try {
              current = await clusters.getCluster(s, p, req.params.id);
            } catch (err) {
              if (err instanceof DomainError && err.kind === 'not_found') {
                send('deleted', { id: req.params.id });
                break;
              }
              // Not an answer about the cluster (the database is away): read again on the next change or in 15 s.
              raw.write(': database unavailable, retrying\n\n');
              lastWrite = Date.now();
              continue;
            }
            const { instances, ...cluster } = current;
            for (const i of instances) {
              const text = JSON.stringify(i);
              if (seen.get(i.id) !== text) {
                seen.set(i.id, text);
                send('instance', i);
                lastWrite = Date.now();
              }
            }
            const state = JSON.stringify([cluster.status, cluster.instance_count]);
            if (state !== clusterState) {
              clusterState = state;
              send('cluster', current);
              lastWrite = Date.now();
            }
          }
          if (Date.now() - lastWrite >= HEARTBEAT_MS) {
            raw.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
        }
        unsubscribe();
        raw.end();
      },
    );
  });
