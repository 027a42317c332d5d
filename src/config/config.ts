// Configuration from the environment, validated once at start-up. Every
// problem is reported on a line of its own, naming the variable to fix.
import { isIP } from 'node:net';
import { NAMESPACE_PREFIX_PATTERN } from '../domain/naming.ts';

export type Config = {
  port: number;
  host: string;
  /** Port of the separate listener that serves only GET /metrics; 0: no metrics listener. */
  metricsPort: number;
  /** HTTPS: the API on `port` of its own, and `PORT` only redirects (GET, HEAD) or refuses; null: plain HTTP on PORT. */
  tls: TlsConfig | null;
  databaseUrl: string | null;
  dataDir: string;
  adminToken: string | null;
  logLevel: string;
  defaultContainerImage: string;
  defaultVmImage: string;
  maxCpuPerInstance: number;
  maxMemoryPerInstance: number;
  maxInstancesPerCluster: number;
  allowNodePort: boolean;
  /** Whether a cluster's image may be an image reference outside the catalogue. */
  allowFreeformImages: boolean;
  reconcileConcurrency: number;
  reconcilerEnabled: boolean;
  claimLeaseSeconds: number;
  /** A live change fails when an instance it rolled is not running again within this long. */
  rolloutTimeoutSeconds: number;
  /** Days the audit log and clusters' history are kept; older entries are pruned by the observing replica. */
  retention: { auditDays: number; historyDays: number };
  resyncSeconds: number;
  /** A deleting cluster's namespace is looked at this often until it is gone; its end seen by the observer's watch wakes the row sooner. */
  namespacePollSeconds: number;
  observerLeaseSeconds: number;
  /** A cluster shows an `expiring` warning this long before it expires. */
  expiryWarningSeconds: number;
  bodyLimitBytes: number;
  workerId: string;
  corsOrigins: string[];
  rateLimit: { perSecond: number; burst: number };
  writeRateLimit: { perSecond: number; burst: number };
  authFailureLimit: { perMinute: number };
  installation: string;
  namespacePrefix: string;
  /** Serial and VNC consoles: closed after this long without a byte either way; sessions one token may hold on one instance at once. */
  console: { idleSeconds: number; sessionsPerToken: number };
  /**
   * Per-user caps, so that no tenant starves the others: live tokens (in the
   * database, every replica), and connections held open on one replica
   * (event streams, requests with ?wait=).
   */
  caps: { tokensPerUser: number; eventStreamsPerUser: number; waitsPerUser: number };
  /**
   * Which peers' X-Forwarded-For is believed (Fastify's trustProxy): false
   * (none: the address is the TCP peer's), true (any), a hop count, or a list
   * of addresses and CIDR ranges.
   */
  trustProxy: TrustProxy;
};

export type TrustProxy = boolean | number | string[];

export type TlsConfig = {
  /** PEM certificate chain and private key; re-read every reloadSeconds, so a renewed Secret is served without a restart. */
  certFile: string;
  keyFile: string;
  /** Where the API listens for HTTPS. */
  port: number;
  /** The HTTPS port clients reach (the load balancer's), used in redirects from PORT. */
  publicPort: number;
  reloadSeconds: number;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.map((p) => `configuration: ${p}`).join('\n'));
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)} must be a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const num = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)} must be a number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.toLowerCase();
    if (raw === undefined || raw === '') return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name}=${JSON.stringify(env[name])} must be true or false`);
    return fallback;
  };

  const databaseUrl = env.DATABASE_URL || null;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must start with postgres:// or postgresql:// (unset it to use the embedded database)');
  }
  const adminToken = env.KUBEKLOUD_ADMIN_TOKEN || null;
  if (adminToken !== null && adminToken.length < 16) {
    problems.push('KUBEKLOUD_ADMIN_TOKEN must be at least 16 characters');
  }
  const installation = env.KUBEKLOUD_INSTALLATION || 'default';
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(installation)) {
    problems.push('KUBEKLOUD_INSTALLATION must be a DNS-1123 label of at most 63 characters');
  }
  const namespacePrefix = env.KUBEKLOUD_NAMESPACE_PREFIX || 'kk';
  if (!NAMESPACE_PREFIX_PATTERN.test(namespacePrefix)) {
    problems.push('KUBEKLOUD_NAMESPACE_PREFIX must be 1 to 8 lower-case letters, digits or "-", starting with a letter');
  }
  for (const origin of (env.KUBEKLOUD_CORS_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    if (origin !== '*' && !/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?$/.test(origin)) {
      problems.push(`KUBEKLOUD_CORS_ORIGINS: "${origin}" is not an origin like https://console.example.com`);
    }
  }
  const trustProxy = parseTrustProxy(env.KUBEKLOUD_TRUST_PROXY, problems);
  const logLevel = env.LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const certFile = env.KUBEKLOUD_TLS_CERT_FILE || '';
  const keyFile = env.KUBEKLOUD_TLS_KEY_FILE || '';
  if (Boolean(certFile) !== Boolean(keyFile)) {
    problems.push(`KUBEKLOUD_TLS_CERT_FILE and KUBEKLOUD_TLS_KEY_FILE go together: set both to serve HTTPS, or neither (${certFile ? 'the key' : 'the certificate'} is missing)`);
  }
  const tls: TlsConfig | null =
    certFile && keyFile
      ? {
          certFile,
          keyFile,
          port: int('KUBEKLOUD_TLS_PORT', 8443, 0, 65535),
          publicPort: int('KUBEKLOUD_TLS_PUBLIC_PORT', 443, 1, 65535),
          reloadSeconds: int('KUBEKLOUD_TLS_RELOAD_SECONDS', 60, 1, 86_400),
        }
      : null;

  const config: Config = {
    port: int('PORT', 8000, 0, 65535),
    tls,
    host: env.HOST || '0.0.0.0',
    metricsPort: int('KUBEKLOUD_METRICS_PORT', 9090, 0, 65535),
    databaseUrl,
    dataDir: env.KUBEKLOUD_DATA_DIR || './data',
    adminToken,
    logLevel,
    defaultContainerImage: env.KUBEKLOUD_DEFAULT_CONTAINER_IMAGE || 'docker.io/nginxinc/nginx-unprivileged:1.27-alpine',
    defaultVmImage: env.KUBEKLOUD_DEFAULT_VM_IMAGE || 'quay.io/containerdisks/ubuntu:24.04',
    maxCpuPerInstance: num('KUBEKLOUD_MAX_CPU_PER_INSTANCE', 32, 0.001, 1024),
    maxMemoryPerInstance: num('KUBEKLOUD_MAX_MEMORY_PER_INSTANCE', 128, 0.001, 4096),
    maxInstancesPerCluster: int('KUBEKLOUD_MAX_INSTANCES_PER_CLUSTER', 100, 1, 1000),
    allowNodePort: bool('KUBEKLOUD_ALLOW_NODEPORT', false),
    allowFreeformImages: bool('KUBEKLOUD_ALLOW_FREEFORM_IMAGES', true),
    reconcileConcurrency: int('KUBEKLOUD_RECONCILE_CONCURRENCY', 16, 1, 256),
    reconcilerEnabled: bool('KUBEKLOUD_RECONCILER', true),
    claimLeaseSeconds: int('KUBEKLOUD_CLAIM_LEASE_SECONDS', 30, 2, 3600),
    rolloutTimeoutSeconds: int('KUBEKLOUD_ROLLOUT_TIMEOUT_SECONDS', 600, 1, 86_400),
    retention: { auditDays: int('KUBEKLOUD_AUDIT_RETENTION_DAYS', 365, 1, 36_500), historyDays: int('KUBEKLOUD_HISTORY_RETENTION_DAYS', 90, 1, 36_500) },
    resyncSeconds: int('KUBEKLOUD_RESYNC_SECONDS', 300, 1, 86_400),
    namespacePollSeconds: int('KUBEKLOUD_NAMESPACE_POLL_SECONDS', 10, 1, 3600),
    observerLeaseSeconds: int('KUBEKLOUD_OBSERVER_LEASE_SECONDS', 10, 3, 300),
    expiryWarningSeconds: int('KUBEKLOUD_EXPIRY_WARNING_SECONDS', 86_400, 0, 31_536_000),
    bodyLimitBytes: int('KUBEKLOUD_BODY_LIMIT_BYTES', 256 * 1024, 1024, 16 * 1024 * 1024),
    installation,
    namespacePrefix,
    corsOrigins: (env.KUBEKLOUD_CORS_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    rateLimit: { perSecond: num('KUBEKLOUD_RATE_LIMIT_RPS', 200, 1, 1_000_000), burst: int('KUBEKLOUD_RATE_LIMIT_BURST', 400, 1, 10_000_000) },
    writeRateLimit: { perSecond: num('KUBEKLOUD_WRITE_RATE_LIMIT_RPS', 20, 0.01, 1_000_000), burst: int('KUBEKLOUD_WRITE_RATE_LIMIT_BURST', 60, 1, 10_000_000) },
    authFailureLimit: { perMinute: int('KUBEKLOUD_AUTH_FAILURES_PER_MINUTE', 30, 1, 1_000_000) },
    console: { idleSeconds: int('KUBEKLOUD_CONSOLE_IDLE_SECONDS', 900, 1, 86_400), sessionsPerToken: int('KUBEKLOUD_CONSOLE_SESSIONS_PER_TOKEN', 1, 1, 100) },
    caps: {
      tokensPerUser: int('KUBEKLOUD_MAX_TOKENS_PER_USER', 50, 1, 100_000),
      eventStreamsPerUser: int('KUBEKLOUD_MAX_EVENT_STREAMS_PER_USER', 10, 1, 10_000),
      waitsPerUser: int('KUBEKLOUD_MAX_WAITS_PER_USER', 10, 1, 10_000),
    },
    trustProxy,
    workerId: env.KUBEKLOUD_WORKER_ID || env.HOSTNAME || `kubekloud-${process.pid}`,
  };
  if (config.metricsPort !== 0 && config.metricsPort === config.port) {
    problems.push(`KUBEKLOUD_METRICS_PORT must differ from PORT (${config.port}): metrics have a listener of their own (0 turns it off)`);
  }
  if (tls && tls.port !== 0 && (tls.port === config.port || tls.port === config.metricsPort)) {
    problems.push(`KUBEKLOUD_TLS_PORT (${tls.port}) must differ from PORT and KUBEKLOUD_METRICS_PORT: with TLS, PORT only redirects to HTTPS`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * KUBEKLOUD_TRUST_PROXY: unset, empty or "false" (no proxy is believed),
 * "true" (every peer is: only behind a proxy that overwrites the header), a
 * hop count, or a comma-separated list of addresses and CIDR ranges.
 */
function parseTrustProxy(raw: string | undefined, problems: string[]): TrustProxy {
  const value = (raw ?? '').trim();
  if (value === '' || value.toLowerCase() === 'false') return false;
  if (value.toLowerCase() === 'true') return true;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops >= 1 && hops <= 100) return hops;
    problems.push(`KUBEKLOUD_TRUST_PROXY=${JSON.stringify(raw)}: a hop count must be from 1 to 100 (or false for none)`);
    return false;
  }
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean);
  const bad = entries.filter((e) => !isAddressOrRange(e));
  if (bad.length > 0) {
    problems.push(
      `KUBEKLOUD_TRUST_PROXY: ${bad.map((b) => JSON.stringify(b)).join(', ')} ${bad.length > 1 ? 'are' : 'is'} not an IP address or CIDR range; expected false, true, a hop count, or addresses and ranges like 10.0.0.0/8,127.0.0.1`,
    );
    return false;
  }
  return entries;
}

function isAddressOrRange(entry: string): boolean {
  const [address, prefix, extra] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}
