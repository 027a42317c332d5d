// GET /api/v1/clusters/{id}/isolation and GET /api/v1/isolation (admins): the
// isolation checks, read live from Kubernetes through the reads main.ts gives.
import type { FastifyPluginAsync } from 'fastify';
import { errors, IdParams, IsolationFleet, IsolationReport, PageQuery } from '../../contract/schemas.ts';
import { clusterIsolation, fleetIsolation } from '../../service/isolation.ts';
import { principalOf, type Authenticate } from '../auth.ts';
import type { AppDeps } from '../deps.ts';
import { protectedRoutes } from './protected.ts';

const tags = ['isolation'];
const CHECKS_TEXT =
  'Checks, live against Kubernetes: the Pod Security enforce level; the default-deny NetworkPolicy (and the exposed-ports one) as rendered, and no other; ' +
  'the ResourceQuota and LimitRange as rendered; no pod privileged, with host namespaces, hostPath or added capabilities; no pod with a ServiceAccount token mounted; ' +
  'no RoleBinding in the namespace and no binding granting to its ServiceAccounts. Each failing check says whether the reconciler repairs it (automatic: ' +
  "KubeKloud's own objects) or a person must (manual: objects KubeKloud did not make and does not touch). 503 when Kubernetes cannot be read.";

/** Under /api/v1/clusters. */
export const clusterIsolationRoutes =
  (deps: AppDeps, authenticate: Authenticate): FastifyPluginAsync =>
  protectedRoutes(deps, authenticate, (app) => {
    app.get(
      '/:id/isolation',
      {
        schema: {
          tags,
          summary: "Check a cluster's isolation",
          description: `${CHECKS_TEXT} The owner's clusters or, for admins, any.`,
          params: IdParams,
          response: { 200: IsolationReport, ...errors(401, 404, 422, 503) },
        },
      },
      async (req) => clusterIsolation(deps, deps.isolationReads, principalOf(req), req.params.id),
    );
  });

/** Under /api/v1/isolation. */
export const fleetIsolationRoutes =
  (deps: AppDeps, authenticate: Authenticate): FastifyPluginAsync =>
  protectedRoutes(deps, authenticate, (app) => {
    app.get(
      '/',
      {
        schema: {
          tags,
          summary: 'Check the isolation of every cluster (admin)',
          description:
            `${CHECKS_TEXT} One row per live cluster with its failing checks, the clusters failing most checks first, then by id; ` +
            'every cluster without ?limit= (refused with 422 past 10000), a page with it; the total count is in the X-Total-Count header. ' +
            'Each answer also sets the metric kubekloud_isolation_checks_failing (clusters failing each check).',
          querystring: PageQuery,
          response: { 200: IsolationFleet, ...errors(401, 403, 422, 503) },
        },
      },
      async (req, reply) => {
        const out = await fleetIsolation(deps, deps.isolationReads, principalOf(req), req.query);
        deps.metrics.observeIsolation(out.failing);
        reply.header('X-Total-Count', String(out.total));
        return out.items;
      },
    );
  });
