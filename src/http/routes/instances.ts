// /api/v1/instances
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { Services } from '../../service/context.ts';
import * as instances from '../../service/instances.ts';
import { principalOf, type Authenticate } from '../auth.ts';
import { waitFor } from '../holds.ts';
import { servicesFor } from '../idempotency.ts';
import { protectedRoutes } from './protected.ts';
import { CreateQuery, errors, IdParams, MessageWithWait, Operate } from '../../contract/schemas.ts';
import { quoteOperation } from '../../service/quotes.ts';

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
          description: "Judged against the instance's desired state; the answer names the state it is now headed to. With ?dry_run=true: 200 with a quote (whether it is allowed now, every reason not, the instance's objects as they would be) and nothing changed.",
          params: IdParams,
          querystring: CreateQuery,
          body: Operate,
          response: { 200: Type.Union([MessageWithWait, Type.Ref('Quote')]), ...errors(400, 401, 404, 409, 422, 429) },
        },
      },
      async (req) => {
        if (req.query.dry_run) return quoteOperation(s, principalOf(req), req.params.id, req.body.operation);
        const out = await instances.operateInstance(servicesFor(s, req), principalOf(req), req.params.id, req.body.operation);
        if (!req.query.wait) return out;
        return { ...out, wait: await waitFor(s, req, () => instances.instanceConverged(s, req.params.id), req.query.wait) };
      },
    );
  });
