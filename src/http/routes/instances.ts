// /api/v1/instances
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { Services } from '../../service/context.ts';
import * as instances from '../../service/instances.ts';
import { waitUntil } from '../../service/wait.ts';
import { principalOf, type Authenticate } from '../auth.ts';
import { servicesFor } from '../idempotency.ts';
import { protectedRoutes } from './protected.ts';
import { errors, IdParams, MessageWithWait, Operate, WaitQuery } from '../../contract/schemas.ts';

export const instanceRoutes =
  (s: Services, authenticate: Authenticate): FastifyPluginAsync =>
  protectedRoutes(s, authenticate, (app) => {
    const tags = ['instances'];
    app.get(
      '/:id',
      { schema: { tags, summary: 'An instance', params: IdParams, response: { 200: Type.Ref('Instance'), ...errors(401, 404, 422) } } },
      async (req) => instances.getInstance(s, principalOf(req), req.params.id),
    );
    app.post(
      '/:id/operate',
      {
        schema: {
          tags,
          summary: 'Start, stop, suspend, resume or restart an instance',
          description: "Judged against the instance's desired state; the answer names the state it is now headed to.",
          params: IdParams,
          querystring: WaitQuery,
          body: Operate,
          response: { 200: MessageWithWait, ...errors(400, 401, 404, 422) },
        },
      },
      async (req) => {
        const out = await instances.operateInstance(servicesFor(s, req), principalOf(req), req.params.id, req.body.operation);
        if (!req.query.wait) return out;
        return { ...out, wait: await waitUntil(() => instances.instanceConverged(s, req.params.id), req.query.wait) };
      },
    );
  });
