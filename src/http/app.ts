// Builds the Fastify app: infrastructure (errors, ids, metrics, audit, docs),
// then the routes. main.ts owns the process; tests call buildApp directly.
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { randomUUID } from 'node:crypto';
import type { TrustProxy } from '../config/config.ts';
import { VERSION } from '../config/version.ts';
import type { AppDeps } from './deps.ts';
import { handleError, sendProblem } from './errors.ts';
import { SHARED_SCHEMAS } from '../contract/schemas.ts';
import { healthRoutes } from './routes/health.ts';
import { databaseStatus } from '../service/readiness.ts';
import { userRoutes } from './routes/users.ts';
import { clusterRoutes } from './routes/clusters.ts';
import { imageRoutes } from './routes/images.ts';
import { instanceRoutes } from './routes/instances.ts';
import { snapshotRoutes } from './routes/snapshots.ts';
import { eventRoutes } from './routes/events.ts';
import { consoleStreamRoutes } from './routes/consoles.ts';
import { consoleRoutes } from './routes/console.ts';
import { redocRoutes } from './routes/redoc.ts';
import { clusterIsolationRoutes, fleetIsolationRoutes } from './routes/isolation.ts';
import { recordAudit } from './audit.ts';
import { auditRoutes } from './routes/audit.ts';
import { isDryRun } from './dryRun.ts';
import { createAuthenticator } from './auth.ts';
import { registerCors } from './cors.ts';
import { decorateHolds } from './holds.ts';
import { Holds } from '../service/holds.ts';
import { AccessWatch } from '../service/accessWatch.ts';
import { replicaName } from '../service/notifications.ts';
import { closeConnectionsOnceClosing } from './closing.ts';

declare module 'fastify' {
  interface FastifyInstance {
    routeInventory: string[];
  }
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Fastify's trustProxy: a hop count as the function Fastify makes of one (its types take no number). */
function trustProxyOption(t: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof t === 'number' ? (_address, hop) => hop < t : t;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: deps.config.bodyLimitBytes,
    routerOptions: { ignoreTrailingSlash: true },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { removeAdditional: false, allErrors: true, coerceTypes: 'array', useDefaults: true } },
    return503OnClosing: true,
    // req.ip: the client behind the proxies KUBEKLOUD_TRUST_PROXY names, else the TCP peer (X-Forwarded-For ignored).
    trustProxy: trustProxyOption(deps.config.trustProxy),
    // The Fastify instance is typed for http; with TLS its server is an https.Server, which main.ts reloads certificates into.
    ...(deps.https ? ({ https: deps.https } as object) : {}),
  });
  const { metrics } = deps;
  // Every documented route, as registered: the inventory tests compare it with the OpenAPI document.
  const inventory: string[] = [];
  app.decorate('routeInventory', inventory);
  app.addHook('onRoute', (route) => {
    if ((route.schema as { hide?: boolean } | undefined)?.hide) return;
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') inventory.push(`${method} ${route.url.replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1')}`);
    }
  });
  for (const s of SHARED_SCHEMAS) app.addSchema(s);

  closeConnectionsOnceClosing(app);
  app.setErrorHandler(handleError);
  // An empty body sent as application/json is no body, as FastAPI takes it: clients
  // with session-wide JSON headers send one with every POST and DELETE. A route
  // that needs a body then answers 422 naming it; anything else is parsed by
  // Fastify's own parser (which refuses __proto__ and constructor keys).
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body.length === 0) return done(null, undefined);
    return json(req, String(body), done);
  });
  registerCors(app, deps.config.corsOrigins);
  const authenticate = createAuthenticator(deps, deps.config);
  const holds = new Holds(
    deps.db,
    { event_streams: deps.config.caps.eventStreamsPerUser, waits: deps.config.caps.waitsPerUser },
    deps.changes?.replica ?? replicaName(deps.config.workerId),
  );
  app.addHook('onClose', async () => holds.stop());
  decorateHolds(app, holds, new AccessWatch(deps));
  app.setNotFoundHandler((req, reply) => sendProblem(reply, 404, `No route ${req.method} ${req.url.split('?')[0]}`));
  // The security headers every answer carries, built once; /docs gets no CSP (its page runs scripts).
  const securityHeaders: Record<string, string> = {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    ...(deps.https ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
  const csp = "default-src 'none'; frame-ancestors 'none'";
  // Synchronous hooks (done callbacks): no promise and no microtask per request.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    reply.headers(securityHeaders);
    if (!req.url.startsWith('/docs')) reply.header('content-security-policy', csp);
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.observeHttp(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
    // A quote (?dry_run=true) changed nothing: it is not a change to audit.
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS' && route !== 'unmatched' && !isDryRun(req)) {
      void recordAudit(deps, req, reply).catch((err) => req.log.warn({ err }, 'audit record failed'));
    }
    done();
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'KubeKloud API', version: VERSION, description: 'Self-service clusters of VMs and containers on Kubernetes.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes({ readiness: deps.readiness, database: () => databaseStatus(deps) }));
  await app.register(userRoutes(deps, authenticate), { prefix: '/api/v1/users' });
  await app.register(clusterRoutes(deps, authenticate), { prefix: '/api/v1/clusters' });
  await app.register(imageRoutes(deps, authenticate), { prefix: '/api/v1/images' });
  await app.register(instanceRoutes(deps, authenticate), { prefix: '/api/v1/instances' });
  await app.register(snapshotRoutes(deps, authenticate), { prefix: '/api/v1/instances' });
  await app.register(eventRoutes(deps, authenticate, metrics), { prefix: '/api/v1/clusters' });
  await app.register(consoleStreamRoutes(deps, authenticate), { prefix: '/api/v1/instances' });
  await app.register(auditRoutes(deps, authenticate));
  await app.register(clusterIsolationRoutes(deps, authenticate), { prefix: '/api/v1/clusters' });
  await app.register(fleetIsolationRoutes(deps, authenticate), { prefix: '/api/v1/isolation' });
  await app.register(consoleRoutes());
  await app.register(redocRoutes());
  return app;
}
