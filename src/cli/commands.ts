// Every command: its words, options, help text with examples, and what it does.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AuditEntry, Cluster, ClusterWithInstances, HistoryEntry, CreateCluster, CreateImage, CreateToken, Endpoint, Image, Instance, IsolationReport, PatchCluster, PatchImage, PatchUser, KeptDisk, Quote, Schedule, ScheduleRun, Snapshot, Token, User } from '../contract/schemas.ts';
import { preferredEndpoint, sshCommand } from '../domain/endpoints.ts';
import { ApiError, KubeKloudClient } from './client.ts';
import { configPath, readConfig, resolveProfile, writeConfig } from './config.ts';
import { details, render, table, type Column, type Format } from './output.ts';
import { Progress, waitForCluster, waitForClusterGone, WaitFailed } from './wait.ts';
import { runConsole } from './console.ts';

export class UsageError extends Error {}

export type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean; description: string; value?: string };
export type Values = Record<string, string | boolean | string[] | undefined>;

export type Ctx = {
  args: string[];
  values: Values;
  format: Format;
  out: (text: string) => void;
  err: (text: string) => void;
  client: () => KubeKloudClient;
};

export type Command = {
  words: string[];
  args?: string;
  summary: string;
  description?: string;
  options?: Record<string, OptionSpec>;
  examples: string[];
  /** Suggestions for the positional argument in shell completion. */
  complete?: string[];
  run(ctx: Ctx): Promise<number | void>;
};

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  output: { type: 'string', short: 'o', description: 'Output format: table (default), json or yaml', value: 'FORMAT' },
  profile: { type: 'string', description: 'Use this profile instead of the current one', value: 'NAME' },
  help: { type: 'boolean', short: 'h', description: 'Show help for the command' },
};

const WAIT_OPTIONS: Record<string, OptionSpec> = {
  wait: { type: 'boolean', short: 'w', description: 'Wait until the instances have converged, showing progress' },
  timeout: { type: 'string', description: 'Seconds to wait with --wait (default 300)', value: 'SECONDS' },
};
const PAGE_OPTIONS: Record<string, OptionSpec> = {
  limit: { type: 'string', description: 'At most this many (1-500, default 100)', value: 'N' },
  offset: { type: 'string', description: 'Skip this many', value: 'N' },
};

// --- argument helpers --------------------------------------------------------

function num(v: unknown, name: string, integer = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'}, not '${String(v)}'`);
  }
  return n;
}
function required<T>(v: T | undefined, name: string): T {
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}
function positional(ctx: Ctx, i: number, what: string): string {
  const v = ctx.args[i];
  if (v === undefined) throw new UsageError(`missing ${what}`);
  return v;
}
function extraArgs(ctx: Ctx, n: number): void {
  if (ctx.args.length > n) throw new UsageError(`unexpected argument '${ctx.args[n]}'`);
}
const NUMERIC_ID = /^[1-9][0-9]{0,9}$/;
/** An argument that must be a numeric id, or a usage error naming what it is. */
function numericId(v: string, what: string): number {
  if (!NUMERIC_ID.test(v)) throw new UsageError(`${what} must be a numeric id, not '${v}'`);
  return Number(v);
}
function idArg(ctx: Ctx, what: string): number {
  const v = positional(ctx, 0, what.toUpperCase());
  extraArgs(ctx, 1);
  return numericId(v, what);
}
const DRY_RUN: Record<string, OptionSpec> = {
  'dry-run': { type: 'boolean', description: 'Only show what it would reserve and apply, and every reason it would be refused; change nothing (exit 1 when it would be refused)' },
};

/** A quote: allowed or not, each reason, the quota before and after, the objects it would apply. Exit 1 when refused. */
function showQuote(ctx: Ctx, q: Quote): number | void {
  if (ctx.format !== 'table') {
    ctx.out(render(q, ctx.format, []));
    return q.allowed ? undefined : 1;
  }
  const dims = [
    ['cpu (cores)', 'cpu'],
    ['memory (GB)', 'memory'],
    ['instances', 'instances'],
    ['storage (GB)', 'storage_gb'],
    ['load balancers', 'load_balancers'],
  ] as const;
  const rows = dims.map(([label, k]) => ({ label, reserve: q.reservation[k], remaining: q.remaining[k] }));
  ctx.out(`${q.allowed ? 'Would be accepted.' : 'Would be refused:'}\n`);
  for (const r of q.reasons) ctx.out(`  - ${r.loc ? `${r.loc.join('.')}: ` : ''}${r.message}\n`);
  ctx.out(`\n${table(rows, [['QUOTA', (r) => r.label], ['RESERVED', (r) => r.reserve], ['LEFT AFTER', (r) => r.remaining]])}`);
  if (q.objects.length > 0) {
    const objects = q.objects as { kind?: string; metadata?: { name?: string; namespace?: string } }[];
    ctx.out(`\nKubernetes objects it would apply:\n${objects.map((o) => `  ${o.kind}/${o.metadata?.name}`).join('\n')}\n`);
  }
  return q.allowed ? undefined : 1;
}

/** INSTANCE SNAPSHOT: two numeric ids. */
function snapshotArgs(ctx: Ctx): { instanceId: number; snapshotId: number } {
  const ids = [positional(ctx, 0, 'INSTANCE'), positional(ctx, 1, 'SNAPSHOT')];
  extraArgs(ctx, 2);
  const bad = ids.find((v) => !NUMERIC_ID.test(v));
  if (bad !== undefined) throw new UsageError(`instance and snapshot must be numeric ids, not '${bad}'`);
  return { instanceId: Number(ids[0]), snapshotId: Number(ids[1]) };
}
function timeoutOf(ctx: Ctx): number {
  const t = num(ctx.values.timeout, 'timeout', true) ?? 300;
  if (t < 1 || t > 3600) throw new UsageError('--timeout must be between 1 and 3600 seconds');
  return t;
}

/** A time from --at (RFC 3339, as the API takes it) or --in (a duration from now: 90m, 8h, 7d). */
function timeFrom(at: unknown, inDuration: unknown, what: string): string | undefined {
  if (at !== undefined && inDuration !== undefined) throw new UsageError(`--at and --in both say when ${what}: give one`);
  if (at !== undefined) return String(at);
  if (inDuration === undefined) return undefined;
  const m = /^(\d+)(s|m|h|d)$/.exec(String(inDuration));
  if (!m) throw new UsageError(`--in must be a number and a unit (s, m, h or d), such as 90m or 7d, not '${String(inDuration)}'`);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return new Date(Date.now() + Number(m[1]) * unit * 1000).toISOString();
}
const EXPIRE_ACTIONS = ['stop', 'delete'] as const;
function expireAction(v: unknown): 'stop' | 'delete' | undefined {
  if (v === undefined) return undefined;
  if (!(EXPIRE_ACTIONS as readonly unknown[]).includes(v)) throw new UsageError(`--action must be stop or delete, not '${String(v)}'`);
  return v as 'stop' | 'delete';
}

/** A cluster by id or by name: the first of the command's `args` arguments. */
async function clusterId(ctx: Ctx, args = 1): Promise<number> {
  const v = positional(ctx, 0, 'CLUSTER (id or name)');
  extraArgs(ctx, args);
  if (NUMERIC_ID.test(v)) return Number(v);
  const { items } = await ctx.client().listClusters({ limit: 500 });
  const found = items.find((c) => c.name === v);
  if (!found) throw new ApiError(404, `Cluster '${v}' not found`);
  return found.id;
}

// --- rendering ---------------------------------------------------------------

const userColumns: Column<User>[] = [
  ['ID', (u) => u.id],
  ['USERNAME', (u) => u.username],
  ['ROLE', (u) => u.role],
  ['STATE', (u) => (u.disabled ? 'disabled' : 'active')],
  ['CPU', (u) => `${u.used_cpu}/${u.quota_cpu}`],
  ['MEMORY', (u) => `${u.used_memory}/${u.quota_memory}`],
  ['INSTANCES', (u) => `${u.used_instances}/${u.quota_instances}`],
  ['STORAGE', (u) => (u.quota_storage_gb === undefined ? '-' : `${u.used_storage_gb ?? 0}/${u.quota_storage_gb}`)],
  ['LBS', (u) => (u.quota_load_balancers === undefined ? '-' : `${u.used_load_balancers ?? 0}/${u.quota_load_balancers}`)],
  ['CREATED', (u) => u.created_at],
];
const historyColumns: Column<HistoryEntry>[] = [
  ['AT', (h) => h.at],
  ['KIND', (h) => h.kind],
  ['MESSAGE', (h) => h.message],
];
const auditColumns: Column<AuditEntry>[] = [
  ['AT', (a) => a.at],
  ['USER', (a) => a.actor ?? '-'],
  ['ACTION', (a) => a.action ?? '-'],
  ['TARGET', (a) => a.target ?? '-'],
  ['STATUS', (a) => a.status_code],
  ['OUTCOME', (a) => a.outcome],
];
const tokenColumns: Column<Token>[] = [
  ['ID', (t) => t.id],
  ['NAME', (t) => t.name],
  ['CREATED', (t) => t.created_at],
  ['EXPIRES', (t) => t.expires_at],
  ['LAST USED', (t) => t.last_used_at],
  ['SCOPES', (t) => (t.scopes ?? []).join(',')],
  ['CLUSTERS', (t) => (t.cluster_ids ? t.cluster_ids.join(',') : 'all')],
];
const imageColumns: Column<Image>[] = [
  ['NAME', (i) => i.name],
  ['KIND', (i) => i.kind],
  ['SOURCE', (i) => i.source],
  ['OS', (i) => i.os ?? ''],
  ['DISK', (i) => (i.default_disk_gb === null ? '' : `${i.default_disk_gb} GB`)],
  ['MIN CPU', (i) => i.min_cpu],
  ['MIN MEMORY', (i) => `${i.min_memory} GB`],
  ['RETIRED', (i) => i.retired_at ?? ''],
];
type IsolationCheckRow = IsolationReport['checks'][number];
const isolationCheckColumns: Column<IsolationCheckRow>[] = [
  ['CHECK', (c) => c.name],
  ['RESULT', (c) => (c.passed ? 'pass' : 'FAIL')],
  ['REPAIR', (c) => (c.passed ? '' : c.repair)],
  ['EVIDENCE', (c) => c.evidence],
];
const isolationFleetColumns: Column<IsolationReport>[] = [
  ['CLUSTER', (r) => r.cluster_id],
  ['NAME', (r) => r.cluster_name],
  ['OWNER', (r) => r.owner_id],
  ['NAMESPACE', (r) => r.namespace],
  ['FAILING', (r) => r.failing],
  ['CHECKS', (r) => r.checks.map((c) => `${c.name}(${c.repair})`).join(', ') || '-'],
];
const keptDiskColumns: Column<KeptDisk>[] = [
  ['ID', (d) => d.id],
  ['INSTANCE', (d) => d.instance_name],
  ['KIND', (d) => d.kind],
  ['NAME', (d) => d.k8s_resource_name],
  ['SIZE', (d) => `${d.size_gb} GB`],
  ['STATUS', (d) => d.status],
  ['KEPT SINCE', (d) => d.created_at],
];
const scheduleColumns: Column<Schedule>[] = [
  ['ID', (x) => x.id],
  ['ACTION', (x) => x.action],
  ['CRON', (x) => x.cron],
  ['TIME ZONE', (x) => x.time_zone],
  ['NEXT RUN', (x) => x.next_run_at],
];
const runColumns: Column<ScheduleRun>[] = [
  ['DUE', (r) => r.due_at],
  ['RAN', (r) => r.ran_at],
  ['BY', (r) => (r.schedule_id === null ? 'expiry' : `schedule ${r.schedule_id}`)],
  ['ACTION', (r) => r.action],
  ['OUTCOME', (r) => r.outcome],
];
const snapshotColumns: Column<Snapshot>[] = [
  ['ID', (x) => x.id],
  ['NAME', (x) => x.name],
  ['KIND', (x) => x.kind],
  ['STATUS', (x) => x.status],
  ['SIZE', (x) => `${x.size_gb} GB`],
  ['CREATED', (x) => x.created_at],
  ['LAST RESTORE', (x) => (x.last_restore ? `${x.last_restore.phase} ${x.last_restore.finished_at ?? x.last_restore.created_at}` : '')],
  ['MESSAGE', (x) => x.message ?? x.last_restore?.message ?? ''],
];
const imageOptions = {
  disk: { type: 'string', description: 'Default disk size in GB', value: 'GB' },
  'min-cpu': { type: 'string', description: 'Smallest cpu per instance a cluster of this image may ask for (cores)', value: 'CORES' },
  'min-memory': { type: 'string', description: 'Smallest memory per instance (GB)', value: 'GB' },
  os: { type: 'string', description: 'OS hint for the console, e.g. linux or windows', value: 'OS' },
} as const;

const clusterColumns: Column<Cluster>[] = [
  ['ID', (c) => c.id],
  ['NAME', (c) => c.name],
  ['TYPE', (c) => c.instance_type],
  ['STATUS', (c) => c.status],
  ['INSTANCES', (c) => c.instance_count],
  ['CPU', (c) => c.cpu_per_instance],
  ['MEMORY', (c) => c.memory_per_instance],
  ['IMAGE', (c) => c.image],
  ['CREATED', (c) => c.created_at],
];
const instanceColumns: Column<Instance>[] = [
  ['ID', (i) => i.id],
  ['NAME', (i) => i.instance_name],
  // The precise state: `status` is the Python service's coarser value, kept for its clients.
  ['STATUS', (i) => (i.progress !== undefined ? `${i.phase} ${i.progress} %` : i.phase)],
  ['DESIRED', (i) => i.desired_status],
  ['IP', (i) => i.ip],
  ['NODE', (i) => i.node],
  ['MESSAGE', (i) => i.message],
];

const endpointColumns: Column<Endpoint>[] = [
  ['KIND', (e) => e.kind],
  ['ADDRESS', (e) => e.address],
  ['PORT', (e) => `${e.port}/${e.protocol}`],
  ['TO PORT', (e) => e.target_port],
];
const endpointText = (e: Endpoint) => `${e.kind} ${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}/${e.protocol} -> ${e.target_port}`;

/** An argument for a POSIX shell, quoted only when it needs to be. */
const shellQuote = (a: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

function showCluster(ctx: Ctx, c: ClusterWithInstances & Record<string, unknown>): void {
  if (ctx.format !== 'table') return ctx.out(render(c, ctx.format, []));
  const ports = (c.ports as { port: number; protocol?: string }[]).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`);
  ctx.out(
    details([
      ['ID', c.id],
      ['Name', c.name],
      ['Status', c.status],
      ['Type', c.instance_type],
      ['Instances', c.instance_count],
      ['CPU per instance', `${c.cpu_per_instance} cores`],
      ['Memory per instance', `${c.memory_per_instance} GB`],
      ['Image', c.image],
      ...(c.image_source !== undefined && c.image_source !== c.image ? [['Image source', c.image_source] as [string, string]] : []),
      ['Namespace', c.namespace],
      ['Ports', ports],
      ['Service type', c.service_type],
      ['Exposed as', c.expose === 'cluster' ? 'each instance and the cluster' : 'each instance'],
      ['Endpoints', c.endpoints.map(endpointText)],
      ['Volume', c.volume_size === null ? null : `${c.volume_size} GB`],
      ...(c.disk_size ? [['Root disk', `${c.disk_size} GB, persistent`] as [string, string]] : []),
      ...(c.rollout
        ? [['Rollout', `generation ${c.rollout.generation}: ${c.rollout.updated}/${c.rollout.total} updated, ${c.rollout.state}${c.rollout.message ? ` (${c.rollout.message})` : ''}`] as [string, string]]
        : []),
      ['Message', c.message],
      ...(c.expires_at ? [['Expires', `${c.expires_at} (then ${c.expire_action === 'delete' ? 'deleted' : 'stopped'})`] as [string, string]] : []),
      ...(c.warnings?.length ? [['Warnings', c.warnings.map((w) => w.message)] as [string, string[]]] : []),
      ['Created', c.created_at],
    ]),
  );
  if (c.instances?.length) ctx.out(`\n${table(c.instances, instanceColumns)}`);
}

function showMessage(ctx: Ctx, m: { message: string; detail?: unknown; wait?: unknown }): void {
  if (ctx.format !== 'table') return ctx.out(render(m, ctx.format, []));
  ctx.out(`${m.message}\n`);
}

/** After an accepted change: wait (when asked) until the cluster's instances are `target` as asked, then show the cluster. */
async function thenWait(ctx: Ctx, id: number, target: 'running' | 'suspended', fallback: () => void): Promise<number | void> {
  if (!ctx.values.wait) return fallback();
  try {
    const c = await waitForCluster(ctx.client(), id, target, timeoutOf(ctx));
    showCluster(ctx, c as ClusterWithInstances & Record<string, unknown>);
  } catch (e) {
    if (e instanceof WaitFailed) {
      ctx.err(`error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

function parseEnv(list: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i < 1) throw new UsageError(`--env takes NAME=VALUE, not '${kv}'`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}
/** The spec flags `clusters create` and `clusters update` share, as body fields (absent when not given). */
function specFlags(v: Values): Pick<CreateCluster, 'image' | 'ports' | 'service_type' | 'env' | 'ssh_keys' | 'user_data'> {
  return {
    ...(v.image !== undefined ? { image: v.image as string } : {}),
    ...(v.port ? { ports: parsePorts(v.port as string[]) } : {}),
    ...(v['service-type'] !== undefined ? { service_type: v['service-type'] as 'ClusterIP' } : {}),
    ...(v.env ? { env: parseEnv(v.env as string[]) } : {}),
    ...(v['ssh-key'] ? { ssh_keys: (v['ssh-key'] as string[]).map(fileOrText) } : {}),
    ...(v['user-data'] !== undefined ? { user_data: fileOrText(v['user-data'] as string) } : {}),
  };
}

function parsePorts(list: string[]): NonNullable<CreateCluster['ports']> {
  return list.map((p) => {
    const m = /^(\d+)(?:\/(tcp|udp))?(?::([a-z0-9-]+))?$/i.exec(p);
    if (!m) throw new UsageError(`--port takes PORT[/TCP|UDP][:NAME], not '${p}'`);
    return { port: Number(m[1]), ...(m[2] ? { protocol: m[2].toUpperCase() as 'TCP' | 'UDP' } : {}), ...(m[3] ? { name: m[3] } : {}) };
  });
}
const fileOrText = (v: string) => (v.startsWith('@') ? readFileSync(v.slice(1), 'utf8').trim() : v);

// --- the commands ------------------------------------------------------------

const OPERATIONS = ['start', 'stop', 'suspend', 'resume', 'restart'] as const;

export const COMMANDS: Command[] = [
  {
    words: ['login'],
    summary: 'Check a token against the API and store it as a profile',
    description: `The profile is kept in ${'$XDG_CONFIG_HOME/kubekloud/config.json'} (or ~/.config/kubekloud/config.json), readable by you only, and becomes the current one.`,
    options: {
      url: { type: 'string', description: 'The API address, e.g. https://cloud.example', value: 'URL' },
      token: { type: 'string', description: 'Your API token (or KUBEKLOUD_TOKEN)', value: 'TOKEN' },
      name: { type: 'string', description: "Profile name (default: 'default')", value: 'NAME' },
    },
    examples: ['kubekloud login --url https://cloud.example --token kk_0123…', 'kubekloud login --url http://127.0.0.1:8000 --token "$ADMIN" --name admin'],
    async run(ctx) {
      extraArgs(ctx, 0);
      const url = required((ctx.values.url as string | undefined) ?? process.env.KUBEKLOUD_URL, 'url');
      const token = required((ctx.values.token as string | undefined) ?? process.env.KUBEKLOUD_TOKEN, 'token');
      if (!/^https?:\/\/[^\s/]+/.test(url)) throw new UsageError(`--url must be an http(s) address, not '${url}'`);
      const name = (ctx.values.name as string | undefined) ?? 'default';
      const me = await new KubeKloudClient(url, token).me();
      const cfg = readConfig();
      cfg.profiles[name] = { url: url.replace(/\/+$/, ''), token, username: me.username };
      cfg.current = name;
      writeConfig(cfg);
      ctx.out(`Logged in to ${url} as ${me.username} (${me.role}); profile '${name}' saved in ${configPath()}\n`);
    },
  },
  {
    words: ['profiles'],
    summary: 'List the stored profiles (* marks the current one)',
    examples: ['kubekloud profiles', 'kubekloud profiles -o json'],
    async run(ctx) {
      extraArgs(ctx, 0);
      const cfg = readConfig();
      const rows = Object.entries(cfg.profiles).map(([name, p]) => ({ current: cfg.current === name, name, url: p.url, username: p.username ?? null }));
      ctx.out(render(rows, ctx.format, [['CURRENT', (r) => (r.current ? '*' : '')], ['NAME', (r) => r.name], ['URL', (r) => r.url], ['USER', (r) => r.username]]));
    },
  },
  {
    words: ['profiles', 'list'],
    summary: 'List the stored profiles',
    examples: ['kubekloud profiles list'],
    async run(ctx) {
      return COMMANDS.find((c) => c.words.join(' ') === 'profiles')!.run(ctx);
    },
  },
  {
    words: ['profiles', 'use'],
    args: 'NAME',
    summary: 'Make a stored profile the current one',
    examples: ['kubekloud profiles use admin'],
    async run(ctx) {
      const name = positional(ctx, 0, 'NAME');
      extraArgs(ctx, 1);
      const cfg = readConfig();
      if (!cfg.profiles[name]) throw new UsageError(`no profile named '${name}'; stored: ${Object.keys(cfg.profiles).join(', ') || 'none'}`);
      cfg.current = name;
      writeConfig(cfg);
      ctx.out(`Now using profile '${name}' (${cfg.profiles[name].url})\n`);
    },
  },
  {
    words: ['profiles', 'delete'],
    args: 'NAME',
    summary: 'Forget a stored profile and its token',
    examples: ['kubekloud profiles delete old'],
    async run(ctx) {
      const name = positional(ctx, 0, 'NAME');
      extraArgs(ctx, 1);
      const cfg = readConfig();
      if (!cfg.profiles[name]) throw new UsageError(`no profile named '${name}'`);
      delete cfg.profiles[name];
      if (cfg.current === name) cfg.current = null;
      writeConfig(cfg);
      ctx.out(`Profile '${name}' deleted\n`);
    },
  },
  {
    words: ['whoami'],
    summary: 'Show the user the current token belongs to',
    examples: ['kubekloud whoami', 'kubekloud whoami -o json'],
    async run(ctx) {
      extraArgs(ctx, 0);
      ctx.out(render(await ctx.client().me(), ctx.format, userColumns));
    },
  },
  {
    words: ['history'],
    args: 'CLUSTER',
    summary: "A cluster's history, newest first: changes and who made them, status transitions, drift repaired, schedule runs",
    options: {
      kind: { type: 'string', description: 'Only change, status, repair or schedule entries', value: 'KIND' },
      since: { type: 'string', description: 'Only entries at or after this time (RFC 3339)', value: 'TIME' },
      ...PAGE_OPTIONS,
    },
    examples: ['kubekloud history web', 'kubekloud history web --kind change', 'kubekloud history 12 --since 2026-12-01T00:00:00Z -o json'],
    async run(ctx) {
      const id = await clusterId(ctx);
      const v = ctx.values;
      const h = await ctx.client().clusterHistory(id, {
        ...(v.kind !== undefined ? { kind: String(v.kind) } : {}),
        ...(v.since !== undefined ? { since: String(v.since) } : {}),
        limit: num(v.limit, 'limit', true),
        offset: num(v.offset, 'offset', true),
      });
      ctx.out(render(h.items, ctx.format, historyColumns));
    },
  },
  {
    words: ['audit'],
    summary: 'The audit log, newest first: everyone\'s (admin), or your own with --mine',
    options: {
      mine: { type: 'boolean', description: 'Only your own requests (any user may)' },
      user: { type: 'string', description: 'Only this username (admin)', value: 'USERNAME' },
      action: { type: 'string', description: 'Only this action, e.g. clusters.delete', value: 'ACTION' },
      resource: { type: 'string', description: 'Only requests on this resource, e.g. clusters/12', value: 'RESOURCE' },
      outcome: { type: 'string', description: 'success, rejected or error', value: 'OUTCOME' },
      since: { type: 'string', description: 'At or after this time (RFC 3339)', value: 'TIME' },
      until: { type: 'string', description: 'Before this time (RFC 3339)', value: 'TIME' },
      ...PAGE_OPTIONS,
    },
    examples: ['kubekloud audit --mine', 'kubekloud audit --user alice --action clusters.delete', 'kubekloud audit --resource clusters/12 --since 2026-12-01T00:00:00Z -o json'],
    async run(ctx) {
      extraArgs(ctx, 0);
      const v = ctx.values;
      const text = (k: string) => (v[k] !== undefined ? { [k]: String(v[k]) } : {});
      if (v.mine === true && v.user !== undefined) throw new UsageError('give --mine or --user, not both');
      const a = await ctx.client().audit(
        { ...text('user'), ...text('action'), ...text('resource'), ...text('outcome'), ...text('since'), ...text('until'), limit: num(v.limit, 'limit', true), offset: num(v.offset, 'offset', true) },
        v.mine === true,
      );
      ctx.out(render(a.items, ctx.format, auditColumns));
    },
  },
  {
    words: ['quota'],
    summary: 'Show your quota: used, total and available',
    examples: ['kubekloud quota', 'kubekloud quota -o json'],
    async run(ctx) {
      extraArgs(ctx, 0);
      const q = await ctx.client().quota();
      if (ctx.format !== 'table') return ctx.out(render(q, ctx.format, []));
      const rows = [
        { r: 'cpu (cores)', u: q.used_cpu, t: q.total_cpu, a: q.available_cpu },
        { r: 'memory (GB)', u: q.used_memory, t: q.total_memory, a: q.available_memory },
        { r: 'instances', u: q.used_instances, t: q.total_instances, a: q.available_instances },
        // Servers before storage and load balancers were counted do not send them.
        ...(q.total_storage_gb !== undefined ? [{ r: 'storage (GB)', u: q.used_storage_gb, t: q.total_storage_gb, a: q.available_storage_gb }] : []),
        ...(q.total_load_balancers !== undefined ? [{ r: 'load balancers', u: q.used_load_balancers, t: q.total_load_balancers, a: q.available_load_balancers }] : []),
      ];
      ctx.out(table(rows, [['RESOURCE', (x) => x.r], ['USED', (x) => x.u], ['TOTAL', (x) => x.t], ['AVAILABLE', (x) => x.a]]));
    },
  },

  {
    words: ['isolation'],
    summary: "Every cluster's failing isolation checks, failing first (admin); exit code 1 when any fails",
    options: PAGE_OPTIONS,
    examples: ['kubekloud isolation', 'kubekloud isolation --limit 20 -o yaml'],
    async run(ctx) {
      extraArgs(ctx, 0);
      const { items, total } = await ctx.client().fleetIsolation({ limit: num(ctx.values.limit, 'limit', true), offset: num(ctx.values.offset, 'offset', true) });
      ctx.out(render(items, ctx.format, isolationFleetColumns));
      if (ctx.format === 'table' && total > items.length) ctx.err(`${items.length} of ${total} clusters shown (--limit, --offset)\n`);
      return items.some((r) => !r.passed) ? 1 : 0;
    },
  },

  // users (admin)
  {
    words: ['users', 'list'],
    summary: 'List users with their quotas and usage (admin)',
    options: PAGE_OPTIONS,
    examples: ['kubekloud users list', 'kubekloud users list --limit 20 --offset 20 -o yaml'],
    async run(ctx) {
      extraArgs(ctx, 0);
      const users = await ctx.client().listUsers({ limit: num(ctx.values.limit, 'limit', true), offset: num(ctx.values.offset, 'offset', true) });
      ctx.out(render(users, ctx.format, userColumns));
    },
  },
  {
    words: ['users', 'create'],
    args: 'USERNAME',
    summary: 'Create a user with a quota; prints their token once (admin)',
    options: {
      cpu: { type: 'string', description: 'CPU quota in cores (required)', value: 'CORES' },
      memory: { type: 'string', description: 'Memory quota in GB (required)', value: 'GB' },
      instances: { type: 'string', description: 'Instance quota (default 10)', value: 'N' },
      storage: { type: 'string', description: 'Storage quota in GB: volumes of all instances (default 100)', value: 'GB' },
      'load-balancers': { type: 'string', description: 'LoadBalancer Service quota (default 5)', value: 'N' },
      role: { type: 'string', description: 'user (default) or admin', value: 'ROLE' },
      token: { type: 'string', description: 'Use this token (16+ characters) instead of a generated one', value: 'TOKEN' },
    },
    examples: [
      'kubekloud users create alice --cpu 8 --memory 16 --instances 20',
      'kubekloud users create db-team --cpu 8 --memory 32 --storage 500 --load-balancers 2',
      'kubekloud users create ops --cpu 1 --memory 1 --role admin -o json',
    ],
    async run(ctx) {
      const username = positional(ctx, 0, 'USERNAME');
      extraArgs(ctx, 1);
      const v = ctx.values;
      const u = await ctx.client().createUser({
        username,
        quota_cpu: required(num(v.cpu, 'cpu'), 'cpu'),
        quota_memory: required(num(v.memory, 'memory'), 'memory'),
        ...(v.instances !== undefined ? { quota_instances: num(v.instances, 'instances', true) } : {}),
        ...(v.storage !== undefined ? { quota_storage_gb: num(v.storage, 'storage', true) } : {}),
        ...(v['load-balancers'] !== undefined ? { quota_load_balancers: num(v['load-balancers'], 'load-balancers', true) } : {}),
        ...(v.role !== undefined ? { role: v.role as 'admin' | 'user' } : {}),
        ...(v.token !== undefined ? { token: v.token as string } : {}),
      });
      if (ctx.format !== 'table') return ctx.out(render(u, ctx.format, []));
      ctx.out(table([u], userColumns));
      ctx.out(`\nToken (shown once): ${u.token}\n`);
    },
  },
  {
    words: ['users', 'update'],
    args: 'ID',
    summary: "Change a user's quotas or role (admin)",
    options: {
      cpu: { type: 'string', description: 'CPU quota in cores', value: 'CORES' },
      memory: { type: 'string', description: 'Memory quota in GB', value: 'GB' },
      instances: { type: 'string', description: 'Instance quota', value: 'N' },
      storage: { type: 'string', description: 'Storage quota in GB', value: 'GB' },
      'load-balancers': { type: 'string', description: 'LoadBalancer Service quota', value: 'N' },
      role: { type: 'string', description: 'user or admin', value: 'ROLE' },
      disable: { type: 'boolean', description: "Refuse every token of the user at once (their clusters keep running)" },
      enable: { type: 'boolean', description: 'Enable a disabled user again' },
    },
    examples: [
      'kubekloud users update 2 --cpu 16',
      'kubekloud users update 2 --memory 32 --instances 40 --role user',
      'kubekloud users update 2 --storage 200 --load-balancers 3',
      'kubekloud users update 2 --disable',
    ],
    async run(ctx) {
      const id = idArg(ctx, 'user id');
      const v = ctx.values;
      const patch: PatchUser = {
        ...(v.cpu !== undefined ? { quota_cpu: num(v.cpu, 'cpu') } : {}),
        ...(v.memory !== undefined ? { quota_memory: num(v.memory, 'memory') } : {}),
        ...(v.instances !== undefined ? { quota_instances: num(v.instances, 'instances', true) } : {}),
        ...(v.storage !== undefined ? { quota_storage_gb: num(v.storage, 'storage', true) } : {}),
        ...(v['load-balancers'] !== undefined ? { quota_load_balancers: num(v['load-balancers'], 'load-balancers', true) } : {}),
        ...(v.role !== undefined ? { role: v.role as 'admin' | 'user' } : {}),
        ...(v.disable === true ? { disabled: true } : v.enable === true ? { disabled: false } : {}),
      };
      if (v.disable === true && v.enable === true) throw new UsageError('give --disable or --enable, not both');
      if (Object.keys(patch).length === 0) throw new UsageError('nothing to change: give --cpu, --memory, --instances, --storage, --load-balancers, --role, --disable or --enable');
      ctx.out(render(await ctx.client().patchUser(id, patch), ctx.format, userColumns));
    },
  },
  {
    words: ['users', 'tokens'],
    args: 'ID',
    summary: "List a user's live tokens (admin)",
    examples: ['kubekloud users tokens 2', 'kubekloud users tokens 2 -o json'],
    async run(ctx) {
      ctx.out(render(await ctx.client().listUserTokens(idArg(ctx, 'user id')), ctx.format, tokenColumns));
    },
  },
  {
    words: ['users', 'revoke-token'],
    args: 'ID TOKEN_ID',
    summary: "Revoke a user's token (admin)",
    examples: ['kubekloud users revoke-token 2 7'],
    async run(ctx) {
      const userId = numericId(positional(ctx, 0, 'ID'), 'user id');
      const tokenId = numericId(positional(ctx, 1, 'TOKEN_ID'), 'token id');
      extraArgs(ctx, 2);
      showMessage(ctx, await ctx.client().revokeUserToken(userId, tokenId));
    },
  },
  {
    words: ['users', 'delete'],
    args: 'ID',
    summary: 'Delete a user who owns no clusters (admin)',
    examples: ['kubekloud users delete 2'],
    async run(ctx) {
      showMessage(ctx, await ctx.client().deleteUser(idArg(ctx, 'user id')));
    },
  },

  // images
  {
    words: ['images', 'list'],
    summary: 'List the image catalogue: what clusters may name in --image',
    options: { all: { type: 'boolean', description: 'Also list retired images' } },
    examples: ['kubekloud images list', 'kubekloud images list --all -o json'],
    async run(ctx) {
      extraArgs(ctx, 0);
      ctx.out(render(await ctx.client().listImages(ctx.values.all === true), ctx.format, imageColumns));
    },
  },
  {
    words: ['images', 'get'],
    args: 'NAME',
    summary: 'Show one image of the catalogue',
    examples: ['kubekloud images get ubuntu-24.04', 'kubekloud images get nginx -o yaml'],
    async run(ctx) {
      const name = positional(ctx, 0, 'NAME');
      extraArgs(ctx, 1);
      ctx.out(render(await ctx.client().getImage(name), ctx.format, imageColumns));
    },
  },
  {
    words: ['images', 'create'],
    args: 'NAME',
    summary: 'Add an image to the catalogue (admin)',
    options: {
      kind: { type: 'string', description: 'vm or container (required)', value: 'KIND' },
      source: {
        type: 'string',
        description: 'container: registry/repo:tag; vm: docker://registry/repo:tag or an http(s):// URL of a disk image (required)',
        value: 'SOURCE',
      },
      ...imageOptions,
    },
    examples: [
      'kubekloud images create ubuntu-24.04 --kind vm --source docker://quay.io/containerdisks/ubuntu:24.04 --disk 20 --min-cpu 1 --min-memory 2 --os linux',
      'kubekloud images create nginx --kind container --source docker.io/nginxinc/nginx-unprivileged:1.27-alpine',
    ],
    async run(ctx) {
      const name = positional(ctx, 0, 'NAME');
      extraArgs(ctx, 1);
      const v = ctx.values;
      const kind = required(v.kind as string | undefined, 'kind');
      if (kind !== 'vm' && kind !== 'container') throw new UsageError(`--kind must be vm or container, not '${kind}'`);
      const body: CreateImage = {
        name,
        kind,
        source: required(v.source as string | undefined, 'source'),
        ...(v.disk !== undefined ? { default_disk_gb: num(v.disk, 'disk', true) } : {}),
        ...(v['min-cpu'] !== undefined ? { min_cpu: num(v['min-cpu'], 'min-cpu') } : {}),
        ...(v['min-memory'] !== undefined ? { min_memory: num(v['min-memory'], 'min-memory') } : {}),
        ...(v.os !== undefined ? { os: v.os as string } : {}),
      };
      ctx.out(render(await ctx.client().createImage(body), ctx.format, imageColumns));
    },
  },
  {
    words: ['images', 'update'],
    args: 'NAME',
    summary: 'Change an image of the catalogue (admin); clusters already created keep the source they run',
    options: {
      source: { type: 'string', description: 'New source (same kind)', value: 'SOURCE' },
      ...imageOptions,
      unretire: { type: 'boolean', description: 'Offer a retired image again' },
    },
    examples: ['kubekloud images update nginx --source docker.io/nginxinc/nginx-unprivileged:1.28-alpine', 'kubekloud images update ubuntu-24.04 --unretire'],
    async run(ctx) {
      const name = positional(ctx, 0, 'NAME');
      extraArgs(ctx, 1);
      const v = ctx.values;
      const patch: PatchImage = {
        ...(v.source !== undefined ? { source: v.source as string } : {}),
        ...(v.disk !== undefined ? { default_disk_gb: num(v.disk, 'disk', true) } : {}),
        ...(v['min-cpu'] !== undefined ? { min_cpu: num(v['min-cpu'], 'min-cpu') } : {}),
        ...(v['min-memory'] !== undefined ? { min_memory: num(v['min-memory'], 'min-memory') } : {}),
        ...(v.os !== undefined ? { os: v.os as string } : {}),
        ...(v.unretire === true ? { retired: false } : {}),
      };
      if (Object.keys(patch).length === 0) throw new UsageError('nothing to change: give --source, --disk, --min-cpu, --min-memory, --os or --unretire');
      ctx.out(render(await ctx.client().patchImage(name, patch), ctx.format, imageColumns));
    },
  },
  {
    words: ['images', 'retire'],
    args: 'NAME',
    summary: 'Retire an image (admin): new clusters can no longer use it; running ones keep it',
    examples: ['kubekloud images retire ubuntu-22.04'],
    async run(ctx) {
      const name = positional(ctx, 0, 'NAME');
      extraArgs(ctx, 1);
      ctx.out(render(await ctx.client().retireImage(name), ctx.format, imageColumns));
    },
  },

  // tokens
  {
    words: ['tokens', 'list'],
    summary: 'List your named tokens',
    examples: ['kubekloud tokens list', 'kubekloud tokens list -o json'],
    async run(ctx) {
      extraArgs(ctx, 0);
      ctx.out(render(await ctx.client().listTokens(), ctx.format, tokenColumns));
    },
  },
  {
    words: ['tokens', 'create'],
    args: 'NAME',
    summary: 'Create a named token; prints it once',
    options: {
      'expires-in-days': { type: 'string', description: 'Expire after this many days (1-3650)', value: 'DAYS' },
      scopes: { type: 'string', description: 'What it may do, comma-separated: read, write, admin (default: all you may)', value: 'LIST' },
      clusters: { type: 'string', description: 'Only these cluster ids, comma-separated (default: every cluster)', value: 'IDS' },
    },
    examples: [
      'kubekloud tokens create ci --expires-in-days 30',
      'kubekloud tokens create dashboard --scopes read',
      'kubekloud tokens create deploy-web --scopes read,write --clusters 12',
      'TOKEN=$(kubekloud tokens create deploy -o json | jq -r .token)',
    ],
    async run(ctx) {
      const name = positional(ctx, 0, 'NAME');
      extraArgs(ctx, 1);
      const days = num(ctx.values['expires-in-days'], 'expires-in-days', true);
      const list = (v: unknown) => (v === undefined ? undefined : String(v).split(',').map((x) => x.trim()).filter(Boolean));
      const scopes = list(ctx.values.scopes) as CreateToken['scopes'];
      const clusterIds = list(ctx.values.clusters)?.map((c) => numericId(c, 'clusters'));
      const t = await ctx.client().createToken({
        name,
        ...(days !== undefined ? { expires_in_days: days } : {}),
        ...(scopes ? { scopes } : {}),
        ...(clusterIds ? { cluster_ids: clusterIds } : {}),
      });
      if (ctx.format !== 'table') return ctx.out(render(t, ctx.format, []));
      ctx.out(table([t], tokenColumns));
      ctx.out(`\nToken (shown once): ${t.token}\n`);
    },
  },
  {
    words: ['tokens', 'revoke'],
    args: 'ID',
    summary: 'Revoke one of your tokens',
    examples: ['kubekloud tokens revoke 5'],
    async run(ctx) {
      showMessage(ctx, await ctx.client().revokeToken(idArg(ctx, 'token id')));
    },
  },

  // clusters
  {
    words: ['clusters', 'list'],
    summary: 'List your clusters',
    options: PAGE_OPTIONS,
    examples: ['kubekloud clusters list', 'kubekloud clusters list -o json | jq ".[].name"'],
    async run(ctx) {
      extraArgs(ctx, 0);
      const { items } = await ctx.client().listClusters({ limit: num(ctx.values.limit, 'limit', true), offset: num(ctx.values.offset, 'offset', true), includeDeleting: true });
      ctx.out(render(items, ctx.format, clusterColumns));
    },
  },
  {
    words: ['clusters', 'create'],
    args: 'NAME',
    summary: 'Create a cluster of VMs or containers (quota is reserved at once)',
    options: {
      type: { type: 'string', description: 'vm or container (required)', value: 'TYPE' },
      cpu: { type: 'string', description: 'Cores per instance, fractions allowed (required)', value: 'CORES' },
      memory: { type: 'string', description: 'GB per instance (required)', value: 'GB' },
      count: { type: 'string', short: 'n', description: 'Number of instances, 1-100 (default 1)', value: 'N' },
      image: { type: 'string', description: 'A catalogue image (kubekloud images list), or an image reference where allowed (default per type)', value: 'IMAGE' },
      port: { type: 'string', short: 'p', multiple: true, description: 'Expose a port; repeatable', value: 'PORT[/TCP|UDP][:NAME]' },
      'service-type': { type: 'string', description: 'ClusterIP (default), NodePort or LoadBalancer', value: 'TYPE' },
      expose: { type: 'string', description: 'instances (default: a Service per instance) or cluster (also one Service across all instances)', value: 'WHAT' },
      volume: { type: 'string', description: 'GB of persistent volume per instance', value: 'GB' },
      disk: { type: 'string', description: "VMs: GB of persistent root disk per instance (default: the image's default size)", value: 'GB' },
      env: { type: 'string', short: 'e', multiple: true, description: 'Environment variable (containers); repeatable', value: 'NAME=VALUE' },
      'ssh-key': { type: 'string', multiple: true, description: 'SSH public key (VMs), or @FILE; repeatable', value: 'KEY' },
      'user-data': { type: 'string', description: 'cloud-init user data (VMs), or @FILE', value: 'TEXT' },
      'expires-at': { type: 'string', description: 'The cluster expires then (RFC 3339 with offset; see clusters expire)', value: 'TIME' },
      'expires-in': { type: 'string', description: 'The cluster expires this long from now (90m, 8h, 7d)', value: 'DURATION' },
      'expire-action': { type: 'string', description: 'stop (default) or delete: what happens at expiry', value: 'ACTION' },
      ...WAIT_OPTIONS,
      ...DRY_RUN,
    },
    examples: [
      'kubekloud clusters create demo --type container --cpu 0.5 --memory 1 --expires-in 8h --expire-action delete',
      'kubekloud clusters create web --type container --cpu 0.5 --memory 1 --count 3 --port 8080 --wait',
      'kubekloud clusters create app --type container --cpu 1 --memory 2 --image registry.example/team/app:1.4 -e MODE=production --volume 5',
      'kubekloud clusters create ci --type vm --cpu 2 --memory 4 --image ubuntu-24.04   # a catalogue image (kubekloud images list)',
      'kubekloud clusters create big --type container --cpu 4 --memory 8 --count 10 --dry-run   # what it would reserve, and every reason it would be refused',
      'kubekloud clusters create build --type vm --cpu 2 --memory 4 --ssh-key @$HOME/.ssh/id_ed25519.pub',
      'kubekloud clusters create db --type vm --cpu 2 --memory 4 --image noble-cloud --disk 40   # a persistent 40 GB root disk',
      'kubekloud clusters create api --type container --cpu 1 --memory 1 --count 3 --port 8080 --service-type LoadBalancer --expose cluster',
    ],
    async run(ctx) {
      const name = positional(ctx, 0, 'NAME');
      extraArgs(ctx, 1);
      const v = ctx.values;
      const type = required(v.type as string | undefined, 'type');
      if (type !== 'vm' && type !== 'container') throw new UsageError(`--type must be vm or container, not '${type}'`);
      const body: CreateCluster = {
        name,
        instance_type: type,
        cpu_per_instance: required(num(v.cpu, 'cpu'), 'cpu'),
        memory_per_instance: required(num(v.memory, 'memory'), 'memory'),
        instance_count: num(v.count, 'count', true) ?? 1,
        ...(v.expose !== undefined ? { expose: v.expose as 'cluster' } : {}),
        ...(v.volume !== undefined ? { volume_size: num(v.volume, 'volume', true) } : {}),
        ...(v.disk !== undefined ? { disk_size: num(v.disk, 'disk', true) } : {}),
        ...specFlags(v),
      };
      const expiresAt = timeFrom(v['expires-at'], v['expires-in'], 'the cluster expires');
      if (expiresAt !== undefined) body.expires_at = expiresAt;
      if (v['expire-action'] !== undefined) body.expire_action = expireAction(v['expire-action']);
      if (v['dry-run']) return showQuote(ctx, await ctx.client().quoteCreateCluster(body));
      if (v.wait) timeoutOf(ctx);
      const c = await ctx.client().createCluster(body);
      if (v.wait && ctx.format === 'table') ctx.err(`Cluster '${c.name}' created (id ${c.id}); waiting for its instances\n`);
      return thenWait(ctx, c.id, 'running', () => showCluster(ctx, c));
    },
  },
  {
    words: ['clusters', 'get'],
    args: 'CLUSTER',
    summary: 'Show a cluster (by id or name) with its instances',
    examples: ['kubekloud clusters get 1', 'kubekloud clusters get web -o yaml'],
    async run(ctx) {
      showCluster(ctx, (await ctx.client().getCluster(await clusterId(ctx))) as ClusterWithInstances & Record<string, unknown>);
    },
  },
  {
    words: ['clusters', 'isolation'],
    args: 'CLUSTER',
    summary: "Check a cluster's isolation live against Kubernetes; exit code 1 when a check fails",
    description:
      'Pod Security level, the default-deny NetworkPolicy, ResourceQuota and LimitRange as rendered, no privileged pod, no ServiceAccount token mounted, ' +
      "no RoleBinding granting into the namespace. REPAIR says who fixes a failure: automatic (KubeKloud's own objects: the reconciler puts them back) or manual (someone else's: a person must).",
    examples: ['kubekloud clusters isolation web', 'kubekloud clusters isolation 3 -o json'],
    async run(ctx) {
      const r = await ctx.client().clusterIsolation(await clusterId(ctx));
      if (ctx.format !== 'table') ctx.out(render(r, ctx.format, []));
      else ctx.out(`Cluster ${r.cluster_name} (namespace ${r.namespace}): ${r.passed ? 'every check passed' : `${r.failing} check(s) failing`}${r.converging ? ' (a change is still being applied)' : ''}\n${table(r.checks, isolationCheckColumns)}`);
      return r.passed ? 0 : 1;
    },
  },
  {
    words: ['clusters', 'scale'],
    args: 'CLUSTER',
    summary: 'Change the number of instances (scale-in removes the highest-numbered)',
    options: {
      count: { type: 'string', short: 'n', description: 'The new number of instances (required)', value: 'N' },
      'keep-disks': { type: 'boolean', description: "Scale-in of VMs: keep the removed VMs' root and data disks (kubekloud disks list)" },
      ...WAIT_OPTIONS,
      ...DRY_RUN,
    },
    examples: ['kubekloud clusters scale web --count 5 --wait', 'kubekloud clusters scale 1 -n 1', 'kubekloud clusters scale vms -n 2 --keep-disks', 'kubekloud clusters scale web -n 8 --dry-run'],
    async run(ctx) {
      const count = required(num(ctx.values.count, 'count', true), 'count');
      if (ctx.values.wait) timeoutOf(ctx);
      const id = await clusterId(ctx);
      const body = { instance_count: count, ...(ctx.values['keep-disks'] === true ? { keep_disks: true } : {}) };
      if (ctx.values['dry-run']) return showQuote(ctx, await ctx.client().quoteScaleCluster(id, body));
      const c = await ctx.client().scaleCluster(id, body);
      return thenWait(ctx, id, 'running', () => showCluster(ctx, c));
    },
  },
  {
    words: ['clusters', 'update'],
    args: 'CLUSTER',
    summary: 'Change a running cluster (CPU, memory, image, ports, env, SSH keys, user data), rolled one instance at a time',
    options: {
      cpu: { type: 'string', description: 'Cores per instance', value: 'CORES' },
      memory: { type: 'string', description: 'GB of memory per instance', value: 'GB' },
      image: { type: 'string', description: 'A catalogue image name, or an image reference where allowed', value: 'IMAGE' },
      port: { type: 'string', multiple: true, description: 'Exposed port, replacing the list; repeatable', value: '[NAME:]PORT[/UDP]' },
      'service-type': { type: 'string', description: 'ClusterIP, NodePort or LoadBalancer', value: 'TYPE' },
      env: { type: 'string', short: 'e', multiple: true, description: 'Environment variable (containers), replacing the set; repeatable', value: 'NAME=VALUE' },
      'ssh-key': { type: 'string', multiple: true, description: 'SSH public key (VMs), or @FILE, replacing the list; repeatable', value: 'KEY' },
      'user-data': { type: 'string', description: 'cloud-init user data (VMs), or @FILE', value: 'TEXT' },
      ...WAIT_OPTIONS,
      ...DRY_RUN,
    },
    examples: [
      'kubekloud clusters update web --cpu 1 --memory 2 --wait',
      'kubekloud clusters update app --image registry.example/team/app:1.5 -e MODE=production',
      'kubekloud clusters update web --cpu 4 --dry-run',
    ],
    async run(ctx) {
      const v = ctx.values;
      const body: PatchCluster = {
        ...(v.cpu !== undefined ? { cpu_per_instance: num(v.cpu, 'cpu') } : {}),
        ...(v.memory !== undefined ? { memory_per_instance: num(v.memory, 'memory') } : {}),
        ...specFlags(v),
      };
      if (Object.keys(body).length === 0) throw new UsageError('nothing to change: give at least one of --cpu, --memory, --image, --port, --service-type, --env, --ssh-key, --user-data');
      if (v.wait) timeoutOf(ctx);
      const id = await clusterId(ctx);
      if (ctx.values['dry-run']) return showQuote(ctx, await ctx.client().quoteUpdateCluster(id, body));
      const c = await ctx.client().updateCluster(id, body);
      return thenWait(ctx, id, 'running', () => showCluster(ctx, c as ClusterWithInstances & Record<string, unknown>));
    },
  },
  ...(['suspend', 'resume'] as const).map(
    (action): Command => ({
      words: ['clusters', action],
      args: 'CLUSTER',
      summary: action === 'suspend' ? 'Suspend every running instance of a cluster' : 'Resume every suspended instance of a cluster',
      options: WAIT_OPTIONS,
      examples: [`kubekloud clusters ${action} web`, `kubekloud clusters ${action} 1 --wait --timeout 120`],
      async run(ctx) {
        if (ctx.values.wait) timeoutOf(ctx);
        const id = await clusterId(ctx);
        const m = action === 'suspend' ? await ctx.client().suspendCluster(id) : await ctx.client().resumeCluster(id);
        if (ctx.format === 'table' || !ctx.values.wait) showMessage(ctx, m);
        return thenWait(ctx, id, action === 'suspend' ? 'suspended' : 'running', () => {});
      },
    }),
  ),
  {
    words: ['clusters', 'delete'],
    args: 'CLUSTER',
    summary: 'Delete a cluster, its instances and namespace; releases its quota',
    options: WAIT_OPTIONS,
    examples: ['kubekloud clusters delete web', 'kubekloud clusters delete 1 --wait'],
    async run(ctx) {
      const timeout = ctx.values.wait ? timeoutOf(ctx) : 0;
      const id = await clusterId(ctx);
      showMessage(ctx, await ctx.client().deleteCluster(id));
      if (!ctx.values.wait) return;
      try {
        await waitForClusterGone(ctx.client(), id, timeout);
      } catch (e) {
        if (!(e instanceof WaitFailed)) throw e;
        ctx.err(`error: ${e.message}\n`);
        return 1;
      }
    },
  },

  // instances
  {
    words: ['instances', 'get'],
    args: 'ID',
    summary: 'Show an instance and how to reach it (its endpoints)',
    examples: ['kubekloud instances get 4', 'kubekloud instances get 4 -o json'],
    async run(ctx) {
      const i = await ctx.client().getInstance(idArg(ctx, 'instance id'));
      ctx.out(render(i, ctx.format, instanceColumns));
      if (ctx.format !== 'table') return;
      ctx.out(i.endpoints.length ? `\nEndpoints:\n${table(i.endpoints, endpointColumns)}` : '\nEndpoints: none observed (no exposed ports, or not yet)\n');
    },
  },
  {
    words: ['ssh'],
    args: 'ID',
    summary: 'Print (or with --exec run) the ssh command for a VM instance that exposes port 22',
    description:
      'Uses the endpoint of port 22 the instance reports: a load balancer first, then a node port, then the cluster-internal address (reachable only from inside the Kubernetes cluster). Arguments after -- are passed to ssh.',
    options: {
      user: { type: 'string', short: 'u', description: 'Log in as this user', value: 'USER' },
      exec: { type: 'boolean', description: 'Run ssh instead of printing the command' },
    },
    examples: ['kubekloud ssh 4', 'kubekloud ssh 4 --user ubuntu --exec', 'kubekloud ssh 4 --exec -- -i ~/.ssh/id_ed25519'],
    async run(ctx) {
      const v = ctx.args[0];
      if (v === undefined) throw new UsageError('missing ID');
      const extra = ctx.args.slice(1);
      const i = await ctx.client().getInstance(numericId(v, 'instance id'));
      const c = await ctx.client().getCluster(i.cluster_id);
      if (c.instance_type !== 'vm') throw new ApiError(400, `instance ${i.instance_name} is a container; ssh is for VM instances`);
      const e = preferredEndpoint(i.endpoints, 22);
      if (!e) {
        const exposed = (c.ports as { port: number; protocol?: string }[]).some((p) => p.port === 22 && (p.protocol ?? 'TCP') === 'TCP');
        throw new ApiError(
          400,
          exposed
            ? `instance ${i.instance_name} has no endpoint for port 22 yet (its Service is not observed yet); try again shortly`
            : `instance ${i.instance_name} does not expose port 22: create its cluster with --port 22`,
        );
      }
      const user = ctx.values.user as string | undefined;
      if (user !== undefined && !/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(user)) throw new UsageError(`--user must be a user name, not '${user}'`);
      const argv = [...sshCommand(e, user ?? null), ...extra];
      if (e.kind === 'cluster') ctx.err(`note: ${e.address} is a cluster-internal address, reachable only from inside the Kubernetes cluster\n`);
      if (!ctx.values.exec) return ctx.out(`${argv.map(shellQuote).join(' ')}\n`);
      return new Promise<number>((resolve) => {
        const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
        child.on('error', (err) => {
          ctx.err(`error: could not run ssh: ${err.message}\n`);
          resolve(1);
        });
        child.on('close', (code) => resolve(code ?? 1));
      });
    },
  },
  {
    words: ['instances', 'console'],
    args: 'ID',
    summary: "Open a VM instance's serial console on this terminal",
    description:
      'The terminal is switched to raw mode: every key, Ctrl-C included, goes to the VM. Press Ctrl-] to leave; the terminal is restored however the session ends. ' +
      'Only for VM instances that are running. The server closes a session idle for KUBEKLOUD_CONSOLE_IDLE_SECONDS, and allows one session per token and instance unless configured otherwise.',
    examples: ['kubekloud instances console 4', 'printf "root\\r" | kubekloud instances console 4'],
    async run(ctx) {
      const id = idArg(ctx, 'instance id');
      return runConsole(ctx.client(), id, { stdin: process.stdin, stdout: process.stdout, err: ctx.err });
    },
  },
  ...OPERATIONS.map(
    (op): Command => ({
      words: ['instances', op],
      args: 'ID',
      summary: `${op[0]!.toUpperCase()}${op.slice(1)} an instance`,
      description: "Judged against what the instance was last asked to be; with --wait the API answers once it has converged.",
      options: { ...WAIT_OPTIONS, ...DRY_RUN },
      examples: [`kubekloud instances ${op} 4`, `kubekloud instances ${op} 4 --wait`, `kubekloud instances ${op} 4 --dry-run`],
      async run(ctx) {
        const id = idArg(ctx, 'instance id');
        if (ctx.values['dry-run']) return showQuote(ctx, await ctx.client().quoteOperation(id, op));
        const timeout = ctx.values.wait ? Math.min(timeoutOf(ctx), 600) : undefined;
        let progress: Progress | undefined;
        if (timeout !== undefined) {
          progress = new Progress();
          progress.update(`instance ${id}: ${op} requested, waiting up to ${timeout} s`);
        }
        let m;
        try {
          m = await ctx.client().operateInstance(id, op, timeout);
        } finally {
          progress?.done();
        }
        if (m.wait && !m.wait.converged) {
          const i = await ctx.client().getInstance(id).catch(() => null);
          ctx.err(`error: instance ${i?.instance_name ?? id} did not converge${m.wait.failed ? ' (failed' : ` within ${timeout} s (`}${i ? `status ${i.phase}${i.message ? `: ${i.message}` : ''}` : ''})\n`);
          return 1;
        }
        if (ctx.format !== 'table') return ctx.out(render(m, ctx.format, []));
        const i = timeout !== undefined ? await ctx.client().getInstance(id) : null;
        ctx.out(`${m.message}${i ? `; now ${i.phase}` : ''}\n`);
      },
    }),
  ),

  // disks kept by scale-ins
  {
    words: ['disks', 'list'],
    args: 'CLUSTER',
    summary: 'List the disks scale-ins kept (clusters scale --keep-disks)',
    examples: ['kubekloud disks list vms', 'kubekloud disks list 3 -o json'],
    async run(ctx) {
      ctx.out(render(await ctx.client().listKeptDisks(await clusterId(ctx)), ctx.format, keptDiskColumns));
    },
  },
  {
    words: ['disks', 'delete'],
    args: 'CLUSTER DISK',
    summary: 'Delete a kept disk; its storage is released at once',
    examples: ['kubekloud disks delete vms 7'],
    async run(ctx) {
      const disk = numericId(positional(ctx, 1, 'DISK'), 'disk');
      showMessage(ctx, await ctx.client().deleteKeptDisk(await clusterId(ctx, 2), disk));
    },
  },

  // expiry and power schedules
  {
    words: ['clusters', 'expire'],
    args: 'CLUSTER',
    summary: 'Set when a cluster expires (it is then stopped or deleted), or --never',
    description:
      'At that time one replica stops every running instance (--action stop, the default) or deletes the cluster (--action delete), once; ' +
      'the cluster shows a warning beforehand (KUBEKLOUD_EXPIRY_WARNING_SECONDS). The run is listed by kubekloud schedules list.',
    options: {
      at: { type: 'string', description: 'When: RFC 3339 with its offset (2027-01-15T18:00:00Z)', value: 'TIME' },
      in: { type: 'string', description: 'When, from now: 90m, 8h, 7d', value: 'DURATION' },
      action: { type: 'string', description: 'stop (default) or delete', value: 'ACTION' },
      never: { type: 'boolean', description: 'The cluster no longer expires' },
    },
    examples: ['kubekloud clusters expire demo --in 8h --action delete', 'kubekloud clusters expire web --at 2027-01-15T18:00:00+01:00', 'kubekloud clusters expire web --never'],
    async run(ctx) {
      const v = ctx.values;
      const at = timeFrom(v.at, v.in, 'the cluster expires');
      if (v.never ? at !== undefined || v.action !== undefined : at === undefined) throw new UsageError('give --at or --in (and --action), or --never');
      const id = await clusterId(ctx);
      const c = await ctx.client().setExpiry(id, v.never ? { expires_at: null } : { expires_at: at!, ...(v.action !== undefined ? { expire_action: expireAction(v.action) } : {}) });
      showCluster(ctx, c as ClusterWithInstances & Record<string, unknown>);
    },
  },
  {
    words: ['schedules', 'list'],
    args: 'CLUSTER',
    summary: "A cluster's power schedules with their next run, and what its schedules and expiry last did",
    examples: ['kubekloud schedules list web', 'kubekloud schedules list 3 -o json'],
    async run(ctx) {
      const list = await ctx.client().listSchedules(await clusterId(ctx));
      if (ctx.format !== 'table') return ctx.out(render(list, ctx.format, []));
      ctx.out(render(list.items, ctx.format, scheduleColumns));
      if (list.runs.length) ctx.out(`\nLast runs:\n${table(list.runs, runColumns)}`);
    },
  },
  {
    words: ['schedules', 'add'],
    args: 'CLUSTER',
    summary: 'Stop or start every instance of a cluster at the times of a cron expression',
    description:
      'Five fields (minute hour day-of-month month day-of-week) or six (seconds first), read in --tz (an IANA time zone, default UTC; daylight saving followed). ' +
      'Runs on one replica, once per due time; after downtime only the latest missed time runs.',
    options: {
      action: { type: 'string', description: 'stop or start (required)', value: 'ACTION' },
      cron: { type: 'string', description: 'The cron expression (required; quote it)', value: 'EXPR' },
      tz: { type: 'string', description: 'IANA time zone (default UTC)', value: 'ZONE' },
    },
    examples: ["kubekloud schedules add web --action stop --cron '0 19 * * MON-FRI' --tz Europe/Paris", "kubekloud schedules add web --action start --cron '0 7 * * MON-FRI' --tz Europe/Paris"],
    async run(ctx) {
      const v = ctx.values;
      const action = required(v.action as string | undefined, 'action');
      if (action !== 'stop' && action !== 'start') throw new UsageError(`--action must be stop or start, not '${action}'`);
      const cron = required(v.cron as string | undefined, 'cron');
      const s = await ctx.client().addSchedule(await clusterId(ctx), { action, cron, ...(v.tz !== undefined ? { time_zone: String(v.tz) } : {}) });
      ctx.out(render(s, ctx.format, scheduleColumns));
    },
  },
  {
    words: ['schedules', 'delete'],
    args: 'CLUSTER SCHEDULE',
    summary: 'Delete a power schedule (its past runs stay listed)',
    examples: ['kubekloud schedules delete web 4'],
    async run(ctx) {
      const schedule = numericId(positional(ctx, 1, 'SCHEDULE'), 'schedule');
      showMessage(ctx, await ctx.client().deleteSchedule(await clusterId(ctx, 2), schedule));
    },
  },

  // snapshots
  {
    words: ['snapshots', 'list'],
    args: 'INSTANCE',
    summary: "List an instance's snapshots, newest first",
    examples: ['kubekloud snapshots list 4', 'kubekloud snapshots list 4 -o json'],
    async run(ctx) {
      ctx.out(render(await ctx.client().listSnapshots(idArg(ctx, 'instance id')), ctx.format, snapshotColumns));
    },
  },
  {
    words: ['snapshots', 'create'],
    args: 'INSTANCE',
    summary: "Snapshot an instance's persistent disks (a VM's root and data disks, a container's volume)",
    description: "Its size (the instance's disks) is reserved of your storage quota until the snapshot is deleted. With --wait, answers once it is ready to restore.",
    options: { name: { type: 'string', description: 'A name unique for the instance (default snap-<id>)', value: 'NAME' }, ...WAIT_OPTIONS },
    examples: ['kubekloud snapshots create 4 --name before-upgrade --wait'],
    async run(ctx) {
      const id = idArg(ctx, 'instance id');
      const wait = ctx.values.wait ? Math.min(timeoutOf(ctx), 600) : undefined;
      const name = ctx.values.name as string | undefined;
      const snap = await ctx.client().createSnapshot(id, name !== undefined ? { name } : {}, wait);
      ctx.out(render(snap, ctx.format, snapshotColumns));
      if (snap.wait && !snap.wait.converged) {
        ctx.err(`error: snapshot ${snap.name} is not ready${snap.wait.failed ? '' : ` after ${wait} s`} (status ${snap.status}${snap.message ? `: ${snap.message}` : ''})\n`);
        return 1;
      }
    },
  },
  {
    words: ['snapshots', 'get'],
    args: 'INSTANCE SNAPSHOT',
    summary: 'Show one snapshot and its latest restore',
    examples: ['kubekloud snapshots get 4 12 -o yaml'],
    async run(ctx) {
      const { instanceId, snapshotId } = snapshotArgs(ctx);
      ctx.out(render(await ctx.client().getSnapshot(instanceId, snapshotId), ctx.format, snapshotColumns));
    },
  },
  {
    words: ['snapshots', 'delete'],
    args: 'INSTANCE SNAPSHOT',
    summary: 'Delete a snapshot; its storage is released at once',
    examples: ['kubekloud snapshots delete 4 12'],
    async run(ctx) {
      const { instanceId, snapshotId } = snapshotArgs(ctx);
      showMessage(ctx, await ctx.client().deleteSnapshot(instanceId, snapshotId));
    },
  },
  {
    words: ['snapshots', 'restore'],
    args: 'INSTANCE SNAPSHOT',
    summary: "Restore an instance's disks from one of its snapshots",
    description: 'A running or suspended instance is stopped first (the answer says so) and returns to that state once restored. With --wait, answers once it is back.',
    options: WAIT_OPTIONS,
    examples: ['kubekloud snapshots restore 4 12 --wait'],
    async run(ctx) {
      const { instanceId, snapshotId } = snapshotArgs(ctx);
      const wait = ctx.values.wait ? Math.min(timeoutOf(ctx), 600) : undefined;
      let progress: Progress | undefined;
      if (wait !== undefined) {
        progress = new Progress();
        progress.update(`instance ${instanceId}: restore of snapshot ${snapshotId} requested, waiting up to ${wait} s`);
      }
      let m;
      try {
        m = await ctx.client().restoreSnapshot(instanceId, snapshotId, wait);
      } finally {
        progress?.done();
      }
      showMessage(ctx, m);
      if (m.wait && !m.wait.converged) {
        const r = (await ctx.client().getSnapshot(instanceId, snapshotId).catch(() => null))?.last_restore;
        ctx.err(`error: the restore did not finish${m.wait.failed ? '' : ` within ${wait} s`}${r ? ` (${r.phase}${r.message ? `: ${r.message}` : ''})` : ''}\n`);
        return 1;
      }
    },
  },
];

export const GROUPS: Record<string, string> = {
  users: 'Manage users and their quotas (admin)',
  tokens: 'Manage your API tokens',
  images: 'The image catalogue: list and inspect; create, update and retire (admin)',
  clusters: 'Create, inspect, scale, suspend, resume, expire and delete clusters',
  instances: 'Inspect, operate and open the console of single instances',
  snapshots: "Snapshots of an instance's disks: take, list, restore, delete",
  disks: 'Disks scale-ins kept: list, delete',
  schedules: 'Power schedules of a cluster (stop and start by cron): list, add, delete',
  profiles: 'Stored logins: list, use, delete',
};
