// The web console: the static build in console/dist, served at /console with
// a fallback to index.html for the console's own paths (it routes in the
// browser). Hidden from the OpenAPI document: it is a client, not the API.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { packageRoot } from '../../config/paths.ts';
import { sendProblem } from '../errors.ts';

export const CONSOLE_DIST = join(packageRoot(), 'console', 'dist');

/** The console loads only its own scripts and styles and talks only to this origin. */
export const CONSOLE_CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

export const consoleRoutes =
  (dist: string = CONSOLE_DIST): FastifyPluginAsync =>
  async (app) => {
    const root = resolve(dist);
    const notBuilt = (reply: FastifyReply) =>
      sendProblem(reply, 404, 'The web console is not built. Build it with `npm run build` (it writes console/dist), then reload this page.');

    const send = async (reply: FastifyReply, file: string, immutable: boolean) => {
      const body = await readFile(file);
      reply.header('content-security-policy', CONSOLE_CSP);
      reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      return reply.type(TYPES[extname(file)] ?? 'application/octet-stream').send(body);
    };

    const serve = async (path: string, reply: FastifyReply) => {
      const index = join(root, 'index.html');
      if (!existsSync(index)) return notBuilt(reply);
      let rel: string;
      try {
        rel = decodeURIComponent(path).replace(/^\/+/, '');
      } catch {
        return sendProblem(reply, 404, 'No such console file');
      }
      if (rel) {
        const file = resolve(root, rel);
        if (file.startsWith(root + sep)) {
          const st = await stat(file).catch(() => null);
          if (st?.isFile()) return send(reply, file, rel.startsWith('assets/'));
        }
        // A missing file (anything with an extension, or under assets/) is a 404, not the app.
        if (rel.startsWith('assets/') || extname(rel)) return sendProblem(reply, 404, `No console file /console/${rel}`);
      }
      return send(reply, index, false);
    };

    app.get('/console', { schema: { hide: true } }, (_req, reply) => serve('', reply));
    app.get<{ Params: { '*': string } }>('/console/*', { schema: { hide: true } }, (req, reply) => serve(req.params['*'] ?? '', reply));
  };
