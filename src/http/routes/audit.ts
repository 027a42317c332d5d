// Reading what happened: the audit log (admins: everyone's; a tenant: their
// own, at /api/v1/users/me/audit) and a cluster's history.
import type { FastifyPluginAsync } from 'fastify';
import * as audit from '../../service/audit.ts';
import type { Services } from '../../service/context.ts';
import { clusterHistory } from '../../service/history.ts';
import { requireAdmin } from '../../service/users.ts';
import { principalOf, type Authenticate } from '../auth.ts';
import { protectedRoutes } from './protected.ts';
import { AuditList, AuditQuery, errors, HistoryList, HistoryQuery, IdParams, MyAuditQuery } from '../../contract/schemas.ts';

export const auditRoutes =
  (s: Services, authenticate: Authenticate): FastifyPluginAsync =>
  protectedRoutes(s, authenticate, (app) => {
    app.get(
      '/api/v1/audit',
      {
        preHandler: async (req) => requireAdmin(principalOf(req)),
        schema: {
          tags: ['audit'],
          summary: 'The audit log (admin): every mutating request, newest first',
          description: 'Filter by `user` (username), `action` (clusters.delete…), `resource` (clusters/12), `outcome` and time (`since`, `until`); 50 a page unless `limit` says otherwise.',
          querystring: AuditQuery,
          response: { 200: AuditList, ...errors(401, 403, 422) },
        },
      },
      async (req) => audit.listAuditEntries(s, req.query),
    );
    app.get(
      '/api/v1/users/me/audit',
      {
        schema: {
          tags: ['audit'],
          summary: "The caller's own requests from the audit log, newest first",
          querystring: MyAuditQuery,
          response: { 200: AuditList, ...errors(401, 422) },
        },
      },
      async (req) => audit.listMyAuditEntries(s, principalOf(req), req.query),
    );
    app.get(
      '/api/v1/clusters/:id/history',
      {
        schema: {
          tags: ['clusters'],
          summary: "A cluster's history, newest first: changes and who made them, status transitions, drift repaired, schedule runs",
          params: IdParams,
          querystring: HistoryQuery,
          response: { 200: HistoryList, ...errors(401, 404, 422) },
        },
      },
      async (req) => clusterHistory(s, principalOf(req), req.params.id, req.query),
    );
  });
