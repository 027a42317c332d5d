// `npm run dev`: the local control plane (started or reused), `npm run build`
// (server and web console, each only when stale), then the API as `npm start`
// runs it, `node dist/main.mjs`, on that plane with the embedded database in
// ./data. Prints the admin token and a first request to try. Ctrl-C stops the
// API; the plane keeps running (`npm run cluster:down` stops it).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensurePlane } from '../testenv/harness/plane.ts';
import { loadConfig, ConfigError } from '../src/config/config.ts';
import { build, SERVER_ENTRY, SERVER_ENV, SERVER_NODE_FLAGS } from './build.ts';

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
const env = { LOG_LEVEL: 'info', HOST: '127.0.0.1', ...SERVER_ENV, ...process.env, KUBECONFIG: plane.kubeconfigPath, KUBEKLOUD_ADMIN_TOKEN: adminToken() };
let config;
try {
  config = loadConfig(env);
} catch (err) {
  log(err instanceof ConfigError ? err.message : String(err));
  process.exit(2);
}
try {
  await build({ log });
} catch (err) {
  log(`build failed: ${(err as Error).message.split('\n')[0]}`);
  process.exit(1);
}

const server = spawn(process.execPath, [...SERVER_NODE_FLAGS, SERVER_ENTRY], { env, stdio: ['ignore', 'inherit', 'inherit'] });
const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
const url = `http://${host}:${config.port}`;
const deadline = Date.now() + 60_000;
for (;;) {
  if (server.exitCode !== null) process.exit(server.exitCode);
  if ((await fetch(`${url}/health`).catch(() => null))?.ok) break;
  if (Date.now() > deadline) {
    log(`The API did not answer ${url}/health within 60 s.`);
    server.kill('SIGTERM');
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 100));
}
log(`
KubeKloud is running at ${url}  (web console: ${url}/console, API docs: ${url}/docs)
Metrics:    ${config.metricsPort > 0 ? `http://${host}:${config.metricsPort}/metrics` : 'off (KUBEKLOUD_METRICS_PORT=0)'}
Kubernetes: ${plane.apiURL}  (export KUBECONFIG=${plane.kubeconfigPath})
Database:   ${config.databaseUrl ? 'PostgreSQL' : `embedded, in ${config.dataDir}`}
Admin token (also in ${TOKEN_FILE}):
  ${config.adminToken}

Try:
  export KK=${url} TOKEN=${config.adminToken}
  curl -s -X POST $KK/api/v1/users/ -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
       -d '{"username":"alice","quota_cpu":4,"quota_memory":8}'
`);
// The server drains on SIGINT / SIGTERM; this process ends when it has.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => server.kill(signal));
server.on('exit', (code) => process.exit(code ?? 0));
