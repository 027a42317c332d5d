// `npm run dev`: the local control plane (started or reused), then the API on
// it with the embedded database in ./data. Prints the admin token and a first
// request to try. Ctrl-C stops the API; the plane keeps running
// (`npm run cluster:down` stops it).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensurePlane } from '../testenv/harness/plane.ts';
import { loadConfig, ConfigError } from '../src/config/config.ts';
import { startServer } from '../src/main.ts';

const TOKEN_FILE = join('.kubekloud', 'local', 'admin-token');

function adminToken(): string {
  if (process.env.KUBEKLOUD_ADMIN_TOKEN) return process.env.KUBEKLOUD_ADMIN_TOKEN;
  if (existsSync(TOKEN_FILE)) return readFileSync(TOKEN_FILE, 'utf8').trim();
  const token = `kk_dev_${randomBytes(18).toString('base64url')}`;
  mkdirSync(dirname(TOKEN_FILE), { recursive: true });
  writeFileSync(TOKEN_FILE, `${token}\n`, { mode: 0o600 });
  return token;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
log('Starting (or reusing) the local Kubernetes control plane…');
const plane = await ensurePlane({ log });
process.env.KUBECONFIG = plane.kubeconfigPath;
process.env.KUBEKLOUD_ADMIN_TOKEN = adminToken();
let config;
try {
  config = loadConfig({ LOG_LEVEL: 'info', HOST: '127.0.0.1', ...process.env });
} catch (err) {
  log(err instanceof ConfigError ? err.message : String(err));
  process.exit(2);
}
const server = await startServer(config);
const url = `http://127.0.0.1:${config.port}`;
log(`
KubeKloud is running at ${url}  (API docs: ${url}/docs)
Metrics:    ${server.metricsUrl ? `${server.metricsUrl}/metrics` : 'off (KUBEKLOUD_METRICS_PORT=0)'}
Kubernetes: ${plane.apiURL}  (export KUBECONFIG=${plane.kubeconfigPath})
Database:   ${config.databaseUrl ? 'PostgreSQL' : `embedded, in ${config.dataDir}`}
Admin token (also in ${TOKEN_FILE}):
  ${config.adminToken}

Try:
  export KK=${url} TOKEN=${config.adminToken}
  curl -s -X POST $KK/api/v1/users/ -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
       -d '{"username":"alice","quota_cpu":4,"quota_memory":8}'
`);
const stop = () => void server.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
