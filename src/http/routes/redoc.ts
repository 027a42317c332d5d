// GET /redoc: ReDoc over /openapi.json, as the Python service (FastAPI) served
// it. The ReDoc bundle is the pinned `redoc` package's standalone build, which
// the console build copies into console/dist/redoc/ and the API serves itself:
// nothing is loaded from elsewhere. Only these two answers get a CSP that lets
// ReDoc run (its inline styles, its search worker from a blob:); every other
// route keeps the app's default-src 'none'.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sendProblem } from '../errors.ts';
import { CONSOLE_DIST } from './console.ts';

export const REDOC_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>KubeKloud API - ReDoc</title>
  </head>
  <body>
    <redoc spec-url="/openapi.json"></redoc>
    <script src="/redoc/redoc.standalone.js"></script>
  </body>
</html>
`;

export const redocRoutes =
  (dist: string = CONSOLE_DIST): FastifyPluginAsync =>
  async (app) => {
    const withCsp = (reply: FastifyReply) => reply.header('content-security-policy', REDOC_CSP).header('cache-control', 'no-cache');
    app.get('/redoc', { schema: { hide: true } }, async (_req, reply) => withCsp(reply).type('text/html; charset=utf-8').send(PAGE));
    app.get('/redoc/redoc.standalone.js', { schema: { hide: true } }, async (_req, reply) => {
      const body = await readFile(join(dist, 'redoc', 'redoc.standalone.js')).catch(() => null);
      if (!body) return sendProblem(reply, 404, 'The ReDoc bundle is not built. Build it with `npm run build` (it writes console/dist/redoc), then reload /redoc.');
      return withCsp(reply).type('text/javascript; charset=utf-8').send(body);
    });
  };
