// Which API server the server drives and how it proves who it is, read the way
// kubectl and the Kubernetes client read it: the files in KUBECONFIG (merged,
// the first to name a cluster, user or context wins), else ~/.kube/config, else
// the pod's service account. The Kubernetes client's own KubeConfig does the
// same, but loading it loads the whole client (every API, model and HTTP stack
// it has): about 2 MB of code and 35 MiB resident in a process that uses none
// of them (BENCHMARKS.md). Tests hand the client's KubeConfig in its place: it
// has the same two methods.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as https from 'node:https';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { load as parseYaml } from 'js-yaml';

/** What a request to the API server needs: where it is, and the TLS settings and headers that authenticate it. */
export interface ClusterAccess {
  getCurrentCluster(): { server: string } | null;
  /** Sets the agent (CA, client certificate) and the authentication (headers, basic auth) on `opts`. */
  applyToHTTPSOptions(opts: https.RequestOptions): Promise<void>;
}

/** Where the pod's service account is mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** A token file (the service account's, a kubeconfig's tokenFile) is read again after this long: the kubelet rotates it. */
const TOKEN_FILE_MAX_AGE_MS = 60_000;

export type AccessOptions = { tokenMaxAgeMs?: number };

type NamedEntry = { name?: string; [k: string]: unknown };
type RawConfig = { clusters?: NamedEntry[]; users?: NamedEntry[]; contexts?: NamedEntry[]; 'current-context'?: string };

type Cluster = { server: string; ca?: Buffer; insecure: boolean; serverName?: string };
type ExecSpec = { command: string; args: string[]; env: { name: string; value: string }[]; apiVersion: string; base: string };
type User = {
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  tokenFile?: string;
  basic?: string;
  exec?: ExecSpec;
  impersonate?: { user?: string; groups: string[] };
};

/** A credential from an exec plugin, kept until it expires. */
type ExecCredential = { token?: string; cert?: Buffer; key?: Buffer; expires: number };

class KubeConfigError extends Error {}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function pathFrom(base: string, p: string): string {
  const home = p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
  return isAbsolute(home) ? home : resolve(base, home);
}

/** Base64 data, else a file (relative to its kubeconfig), else nothing. */
function material(entry: Record<string, unknown>, dataKey: string, fileKey: string, base: string): Buffer | undefined {
  const data = str(entry[dataKey]);
  if (data) return Buffer.from(data, 'base64');
  const file = str(entry[fileKey]);
  return file ? readFileSync(pathFrom(base, file)) : undefined;
}

/** Access to one cluster as one user, its TLS agents kept (with keep-alive) and its tokens read again as they rotate. */
class Access implements ClusterAccess {
  private readonly agents = new Map<string, https.Agent>();
  private fileToken: { text: string; readAt: number } | null = null;
  private execCredential: Promise<ExecCredential> | null = null;

  constructor(
    private readonly cluster: Cluster,
    private readonly user: User,
    private readonly tokenMaxAgeMs: number,
  ) {}

  getCurrentCluster() {
    return { server: this.cluster.server };
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const headers: Record<string, string | string[]> = {};
    let cert = this.user.cert;
    let key = this.user.key;
    if (this.user.exec) {
      const c = await this.credential(this.user.exec);
      if (c.token) headers.authorization = `Bearer ${c.token}`;
      if (c.cert && c.key) [cert, key] = [c.cert, c.key];
    }
    const token = this.user.token ?? (this.user.tokenFile ? this.readTokenFile(this.user.tokenFile) : undefined);
    if (token) headers.authorization = `Bearer ${token}`;
    if (this.user.basic) opts.auth = this.user.basic;
    if (this.user.impersonate?.user) headers['impersonate-user'] = this.user.impersonate.user;
    if (this.user.impersonate?.groups.length) headers['impersonate-group'] = this.user.impersonate.groups;
    opts.headers = { ...opts.headers, ...headers };
    if (this.cluster.server.startsWith('https:')) opts.agent = this.agent(cert, key);
  }

  private agent(cert: Buffer | undefined, key: Buffer | undefined): https.Agent {
    const id = cert ? cert.toString('base64') : '';
    let agent = this.agents.get(id);
    if (!agent) {
      agent = new https.Agent({
        keepAlive: true,
        ca: this.cluster.ca,
        cert,
        key,
        rejectUnauthorized: !this.cluster.insecure,
        ...(this.cluster.serverName ? { servername: this.cluster.serverName } : {}),
      });
      // An exec plugin's certificate replaces the one before it.
      for (const [other, a] of this.agents) if (other !== '' && other !== id) (a.destroy(), this.agents.delete(other));
      this.agents.set(id, agent);
    }
    return agent;
  }

  private readTokenFile(file: string): string {
    const now = Date.now();
    if (!this.fileToken || now - this.fileToken.readAt >= this.tokenMaxAgeMs) {
      this.fileToken = { text: readFileSync(file, 'utf8').trim(), readAt: now };
    }
    return this.fileToken.text;
  }

  /** The exec plugin's credential, run again once it has expired (or failed). */
  private async credential(spec: ExecSpec): Promise<ExecCredential> {
    const held = this.execCredential;
    if (held) {
      const c = await held.catch(() => null);
      if (c && c.expires > Date.now()) return c;
      if (this.execCredential !== held) return this.credential(spec);
    }
    const running = runExec(spec);
    this.execCredential = running;
    running.catch(() => {
      if (this.execCredential === running) this.execCredential = null;
    });
    return running;
  }
}

/** Runs a kubeconfig's exec plugin (client.authentication.k8s.io ExecCredential) and reads its answer. */
async function runExec(spec: ExecSpec): Promise<ExecCredential> {
  // A command with a path separator is relative to its kubeconfig; a bare name is looked up in PATH.
  const command = spec.command.includes('/') ? pathFrom(spec.base, spec.command) : spec.command;
  const env = {
    ...process.env,
    ...Object.fromEntries(spec.env.map((e) => [e.name, e.value])),
    KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: spec.apiVersion, kind: 'ExecCredential', spec: { interactive: false } }),
  };
  const stdout = await new Promise<string>((ok, fail) =>
    execFile(command, spec.args, { env, timeout: 60_000, maxBuffer: 1 << 20 }, (err, out, errOut) =>
      err ? fail(new KubeConfigError(`the kubeconfig's exec plugin ${spec.command} failed: ${String(errOut).trim() || err.message}`)) : ok(out),
    ),
  );
  let status: Record<string, unknown>;
  try {
    status = ((JSON.parse(stdout) as { status?: Record<string, unknown> }).status ?? {}) as Record<string, unknown>;
  } catch {
    throw new KubeConfigError(`the kubeconfig's exec plugin ${spec.command} did not answer an ExecCredential in JSON`);
  }
  const expiry = str(status.expirationTimestamp);
  const c: ExecCredential = { expires: expiry ? Date.parse(expiry) : Infinity };
  if (str(status.token)) c.token = str(status.token);
  if (str(status.clientCertificateData) && str(status.clientKeyData)) {
    c.cert = Buffer.from(str(status.clientCertificateData)!);
    c.key = Buffer.from(str(status.clientKeyData)!);
  }
  if (!c.token && !c.cert) throw new KubeConfigError(`the kubeconfig's exec plugin ${spec.command} answered neither a token nor a client certificate`);
  return c;
}

/** The files of KUBECONFIG merged as kubectl merges them: the first to name a cluster, user or context (or a current context) wins. */
function mergeFiles(files: string[]): { raw: RawConfig; bases: Map<NamedEntry, string> } {
  const raw: Required<Pick<RawConfig, 'clusters' | 'users' | 'contexts'>> & RawConfig = { clusters: [], users: [], contexts: [] };
  const bases = new Map<NamedEntry, string>();
  for (const file of files) {
    const parsed = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as RawConfig;
    if (typeof parsed !== 'object') throw new KubeConfigError(`${file} is not a kubeconfig`);
    for (const list of ['clusters', 'users', 'contexts'] as const) {
      for (const entry of parsed[list] ?? []) {
        if (raw[list].some((e) => e.name === entry.name)) continue;
        raw[list].push(entry);
        bases.set(entry, dirname(resolve(file)));
      }
    }
    raw['current-context'] ??= str(parsed['current-context']);
  }
  return { raw, bases };
}

function fromFiles(files: string[], o: AccessOptions): Access {
  const { raw, bases } = mergeFiles(files);
  const where = files.join(delimiter);
  const contextName = raw['current-context'];
  if (!contextName) throw new KubeConfigError(`${where} names no current context`);
  const context = raw.contexts?.find((c) => c.name === contextName)?.context as Record<string, unknown> | undefined;
  if (!context) throw new KubeConfigError(`${where} has no context ${contextName}`);
  const clusterEntry = raw.clusters?.find((c) => c.name === context.cluster);
  const cluster = clusterEntry?.cluster as Record<string, unknown> | undefined;
  if (!clusterEntry || !cluster || !str(cluster.server)) throw new KubeConfigError(`${where}: context ${contextName} names no cluster with a server`);
  if (str(cluster['proxy-url'])) throw new KubeConfigError(`${where}: cluster ${String(clusterEntry.name)} sets proxy-url, which KubeKloud does not support`);
  const clusterBase = bases.get(clusterEntry)!;
  const userEntry = raw.users?.find((u) => u.name === context.user);
  const user = (userEntry?.user ?? {}) as Record<string, unknown>;
  const userBase = userEntry ? bases.get(userEntry)! : clusterBase;
  if (user['auth-provider']) {
    throw new KubeConfigError(`${where}: user ${String(context.user)} authenticates through an auth-provider, which Kubernetes has retired; use an exec plugin instead`);
  }
  const exec = user.exec as Record<string, unknown> | undefined;
  const username = str(user.username);
  return new Access(
    {
      server: str(cluster.server)!.replace(/\/$/, ''),
      ca: material(cluster, 'certificate-authority-data', 'certificate-authority', clusterBase),
      insecure: cluster['insecure-skip-tls-verify'] === true,
      serverName: str(cluster['tls-server-name']),
    },
    {
      cert: material(user, 'client-certificate-data', 'client-certificate', userBase),
      key: material(user, 'client-key-data', 'client-key', userBase),
      token: str(user.token),
      tokenFile: str(user.tokenFile) ? pathFrom(userBase, str(user.tokenFile)!) : undefined,
      basic: username ? `${username}:${str(user.password) ?? ''}` : undefined,
      exec: exec
        ? {
            command: str(exec.command) ?? '',
            args: Array.isArray(exec.args) ? exec.args.map(String) : [],
            env: Array.isArray(exec.env) ? (exec.env as { name: string; value: string }[]) : [],
            apiVersion: str(exec.apiVersion) ?? 'client.authentication.k8s.io/v1',
            base: userBase,
          }
        : undefined,
      impersonate:
        str(user.as) || Array.isArray(user['as-groups']) ? { user: str(user.as), groups: ((user['as-groups'] as unknown[]) ?? []).map(String) } : undefined,
    },
    o.tokenMaxAgeMs ?? TOKEN_FILE_MAX_AGE_MS,
  );
}

function inCluster(env: NodeJS.ProcessEnv, dir: string, o: AccessOptions): Access {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  return new Access(
    { server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, ca: readFileSync(join(dir, 'ca.crt')), insecure: false },
    { tokenFile: join(dir, 'token') },
    o.tokenMaxAgeMs ?? TOKEN_FILE_MAX_AGE_MS,
  );
}

/**
 * The access kubectl would use here: KUBECONFIG's files, else ~/.kube/config,
 * else the pod's service account. Throws, naming the file and what is wrong,
 * when none is usable.
 */
export function loadClusterAccess(env: NodeJS.ProcessEnv = process.env, serviceAccountDir = SERVICE_ACCOUNT_DIR, o: AccessOptions = {}): ClusterAccess {
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  if (listed.length > 0) {
    const present = listed.filter((f) => existsSync(f));
    if (present.length === 0) throw new KubeConfigError(`KUBECONFIG names no file that exists (${listed.join(delimiter)})`);
    return fromFiles(present, o);
  }
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return fromFiles([home], o);
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(serviceAccountDir, 'token'))) return inCluster(env, serviceAccountDir, o);
  throw new KubeConfigError('neither KUBECONFIG, ~/.kube/config nor an in-cluster service account');
}
