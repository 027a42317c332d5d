// The reads ceiling: a bare Fastify app (no schemas, hooks, metrics, rate
// limiter or docs) that answers the same three reads as KubeKloud — the list
// of the caller's clusters (whole, or paged with ?limit=&offset=, the total in
// X-Total-Count), a cluster with its instances, an instance — with the same
// JSON: it runs the same store functions (the same SQL, token lookup included)
// through the same pool, filters by the same owner scope and builds the answer
// with the same views (src/service/views.ts). Token lookups are kept in the
// same in-memory cache (src/service/tokenCache.ts) as the server's, which
// serves them while it hears every change of access: the benchmark changes
// none, so the ceiling never clears it, and both sides make the same
// database round trips per request. A cluster or instance the caller
// does not reach answers the same 404 problem. What it leaves out is the
// framework around the reads, which is what the comparison measures.
// Started as its own process by bench/run.ts, which checks that both sides
// answer the same before it times them.
import Fastify, { type FastifyReply } from 'fastify';
import { createHash } from 'node:crypto';
import { openPostgres } from '../src/store/db.ts';
import { findCluster, listClusters } from '../src/store/clusters.ts';
import { findInstance, listInstancesOf } from '../src/store/instances.ts';
import { findLiveToken } from '../src/store/tokens.ts';
import { checkWholeList, pageToRead } from '../src/domain/paging.ts';
import { effectiveScopes } from '../src/domain/scopes.ts';
import { DomainError, notFound } from '../src/domain/errors.ts';
import { ownerScope, type Principal } from '../src/service/context.ts';
import { TokenCache } from '../src/service/tokenCache.ts';
import { clusterView, clusterWithInstancesView, instanceView } from '../src/service/views.ts';
import { sendProblem } from '../src/http/errors.ts';

const db = openPostgres(process.env.DATABASE_URL!);
// As the server reads it (src/config/config.ts): how long before expiry a cluster carries its warning.
const warnSeconds = Number(process.env.KUBEKLOUD_EXPIRY_WARNING_SECONDS ?? 86_400);
const app = Fastify({ logger: false });

const tokens = new TokenCache();

/** The caller, as the server's authentication makes it from a bearer token (no rate limits, no last-used touch). */
async function principal(auth: string | undefined): Promise<Principal | null> {
  const token = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : '';
  const hash = createHash('sha256').update(token, 'utf8').digest('hex');
  let found = tokens.get(hash);
  if (!found) {
    const generation = tokens.begin();
    found = (await findLiveToken(db, hash)) ?? undefined;
    if (found) tokens.put(hash, found, generation);
  }
  if (!found || found.user.disabled_at) return null;
  const u = found.user;
  return { userId: u.id, username: u.username, role: u.role, tokenId: found.token.id, scopes: effectiveScopes(u.role, found.token.scopes), clusterIds: found.token.cluster_ids };
}

const STATUS: Partial<Record<DomainError['kind'], number>> = { not_found: 404, invalid: 422 };
app.setErrorHandler((err, _req, reply: FastifyReply) => {
  if (err instanceof DomainError && STATUS[err.kind]) return sendProblem(reply, STATUS[err.kind]!, err.kind === 'invalid' ? err.problems : err.message);
  return sendProblem(reply, 500, 'Internal server error');
});

type Query = { limit?: string; offset?: string; include_deleting?: string };
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

app.get('/health', async () => ({ status: 'healthy' }));
app.get<{ Querystring: Query }>('/api/v1/clusters/', async (req, reply) => {
  const p = await principal(req.headers.authorization);
  if (!p) return sendProblem(reply, 401, 'Invalid authentication token');
  const page = pageToRead(num(req.query.limit), num(req.query.offset));
  const { rows, total } = await listClusters(db, ownerScope(p), page, { activeOnly: req.query.include_deleting !== 'true' });
  checkWholeList(page, rows.length, total, 'clusters');
  reply.header('X-Total-Count', String(total));
  return rows.map((r) => clusterView(r, r.instance_statuses, warnSeconds));
});
app.get<{ Params: { id: string }; Querystring: Query }>('/api/v1/clusters/:id', async (req, reply) => {
  const p = await principal(req.headers.authorization);
  if (!p) return sendProblem(reply, 401, 'Invalid authentication token');
  const id = Number(req.params.id);
  const row = await findCluster(db, id, ownerScope(p), { activeOnly: req.query.include_deleting !== 'true' });
  if (!row) throw notFound(`Cluster with id ${id}`);
  return clusterWithInstancesView(row, await listInstancesOf(db, [id]), warnSeconds);
});
app.get<{ Params: { id: string } }>('/api/v1/instances/:id', async (req, reply) => {
  const p = await principal(req.headers.authorization);
  if (!p) return sendProblem(reply, 401, 'Invalid authentication token');
  const id = Number(req.params.id);
  const row = await findInstance(db, id, ownerScope(p));
  if (!row || row.cluster_state === 'deleting') throw notFound(`Instance with id ${id}`);
  return instanceView(row);
});

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.on('SIGTERM', () => void app.close().then(() => db.close()).then(() => process.exit(0)));
