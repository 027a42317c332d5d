// /api/v1/users
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { Services } from '../../service/context.ts';
import * as users from '../../service/users.ts';
import { principalOf, type Authenticate } from '../auth.ts';
import { servicesFor } from '../idempotency.ts';
import { protectedRoutes } from './protected.ts';
import { CreatedToken, CreatedUser, CreateToken, CreateUser, errors, IdParams, Message, PageQuery, PatchUser, Quota, UserTokenParams } from '../../contract/schemas.ts';

export const userRoutes =
  (s: Services, authenticate: Authenticate): FastifyPluginAsync =>
  protectedRoutes(s, authenticate, (app) => {
    const admin = async (req: Parameters<typeof principalOf>[0]) => users.requireAdmin(principalOf(req));
    const tags = ['users'];

    app.post(
      '/',
      {
        preHandler: admin,
        schema: { tags, summary: 'Create a user (admin)', body: CreateUser, response: { 201: CreatedUser, ...errors(400, 401, 403, 422) } },
      },
      async (req, reply) => reply.code(201).send(await users.createUser(servicesFor(s, req), req.body)),
    );
    app.get(
      '/',
      { preHandler: admin, schema: { tags, summary: 'List users (admin)', querystring: PageQuery, response: { 200: Type.Array(Type.Ref('User')), ...errors(401, 403, 422) } } },
      async (req) => users.listAllUsers(s, req.query),
    );
    app.get('/me', { schema: { tags, summary: 'The caller', response: { 200: Type.Ref('User'), ...errors(401) } } }, async (req) =>
      users.me(s, principalOf(req)),
    );
    app.get('/me/quota', { schema: { tags, summary: "The caller's quota", response: { 200: Quota, ...errors(401) } } }, async (req) =>
      users.myQuota(s, principalOf(req)),
    );
    app.patch(
      '/:id',
      {
        preHandler: admin,
        schema: { tags, summary: 'Change quotas or role, disable or enable (admin)', params: IdParams, body: PatchUser, response: { 200: Type.Ref('User'), ...errors(400, 401, 403, 404, 422) } },
      },
      async (req) => users.patchUser(servicesFor(s, req), principalOf(req), req.params.id, req.body),
    );
    app.delete(
      '/:id',
      { preHandler: admin, schema: { tags, summary: 'Delete a user who owns no clusters (admin)', params: IdParams, response: { 200: Message, ...errors(400, 401, 403, 404, 422) } } },
      async (req) => users.deleteUser(servicesFor(s, req), principalOf(req), req.params.id),
    );
    app.get(
      '/:id/tokens',
      { preHandler: admin, schema: { tags, summary: "List a user's live tokens (admin)", params: IdParams, response: { 200: Type.Array(Type.Ref('Token')), ...errors(401, 403, 404, 422) } } },
      async (req) => users.listUserTokens(s, req.params.id),
    );
    app.delete(
      '/:id/tokens/:token_id',
      {
        preHandler: admin,
        schema: { tags, summary: "Revoke a user's token (admin): refused from the next request on", params: UserTokenParams, response: { 200: Message, ...errors(401, 403, 404, 422) } },
      },
      async (req) => users.revokeUserToken(servicesFor(s, req), req.params.id, req.params.token_id),
    );

    app.post(
      '/me/tokens',
      { schema: { tags, summary: 'Create a named token', description: 'A user holds at most KUBEKLOUD_MAX_TOKENS_PER_USER live (unrevoked, unexpired) tokens (default 50); one more is refused with 429 and Retry-After until one is revoked or expires.', body: CreateToken, response: { 201: CreatedToken, ...errors(401, 422, 429) } } },
      async (req, reply) => reply.code(201).send(await users.createToken(servicesFor(s, req), principalOf(req), req.body)),
    );
    app.get('/me/tokens', { schema: { tags, summary: 'List my tokens', response: { 200: Type.Array(Type.Ref('Token')), ...errors(401) } } }, async (req) =>
      users.listMyTokens(s, principalOf(req)),
    );
    app.delete(
      '/me/tokens/:id',
      { schema: { tags, summary: 'Revoke a token', params: IdParams, response: { 200: Message, ...errors(401, 404, 422) } } },
      async (req) => users.revokeMyToken(servicesFor(s, req), principalOf(req), req.params.id),
    );
  });
