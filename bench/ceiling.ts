// The reads ceiling: a bare Fastify app (no schemas, hooks, metrics or docs)
// whose three routes run the same SQL as KubeKloud's list, get-cluster and
// get-instance (token lookup included) through the same pool, and send the
// rows back as JSON. Started as its own process by bench/run.ts.
import Fastify from 'fastify';
import { createHash } from 'node:crypto';
import { openPostgres } from '../src/store/db.ts';
import { findCluster, listClusters } from '../src/store/clusters.ts';
import { UNPAGED_LIST_MAX } from '../src/domain/paging.ts';
import { findInstance, listInstancesOf } from '../src/store/instances.ts';
import { findLiveToken } from '../src/store/tokens.ts';

const db = openPostgres(process.env.DATABASE_URL!);
const app = Fastify({ logger: false });

async function who(auth: string | undefined): Promise<number | null> {
  const token = auth?.slice('Bearer '.length) ?? '';
  const found = await findLiveToken(db, createHash('sha256').update(token).digest('hex'));
  return found ? found.user.id : null;
}

app.get('/health', async () => ({ status: 'healthy' }));
app.get('/api/v1/clusters/', async (req, reply) => {
  const uid = await who(req.headers.authorization);
  if (uid === null) return reply.code(401).send({ detail: 'no' });
  // As the API reads an unpaged list: every live cluster, up to the bound.
  const { rows } = await listClusters(db, { ownerId: uid, clusterIds: null }, { limit: UNPAGED_LIST_MAX + 1, offset: 0 }, { activeOnly: true });
  return { rows };
});
app.get<{ Params: { id: string } }>('/api/v1/clusters/:id', async (req, reply) => {
  const uid = await who(req.headers.authorization);
  if (uid === null) return reply.code(401).send({ detail: 'no' });
  const row = await findCluster(db, Number(req.params.id), { ownerId: uid, clusterIds: null }, { activeOnly: true });
  if (!row) return reply.code(404).send({ detail: 'no' });
  return { ...row, instances: await listInstancesOf(db, [row.id]) };
});
app.get<{ Params: { id: string } }>('/api/v1/instances/:id', async (req, reply) => {
  const uid = await who(req.headers.authorization);
  if (uid === null) return reply.code(401).send({ detail: 'no' });
  const row = await findInstance(db, Number(req.params.id), { ownerId: uid, clusterIds: null });
  return row ?? reply.code(404).send({ detail: 'no' });
});

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.on('SIGTERM', () => void app.close().then(() => db.close()).then(() => process.exit(0)));
