// The server under test as a real process, built and run as `npm start` runs
// it (`node dist/main.mjs`), timed from spawn to /health and /ready, with its
// pid for memory readings. The ceiling is bundled the same way.
import { spawn, type ChildProcess } from 'node:child_process';
import { ApiClient } from '../../test/support/api.ts';
import { repoRoot, testKubeconfigPath } from '../../test/support/kube.ts';
import { freePort } from '../../test/support/server.ts';
import { build, bundle, SERVER_ENTRY, SERVER_ENV, SERVER_NODE_FLAGS } from '../../scripts/build.ts';
import { basename, join } from 'node:path';
import { now, sleep } from './util.ts';

/** A process under test (the server or the ceiling), started and answering. */
export type SpawnedProcess = {
  url: string;
  proc: ChildProcess;
  /** ms from spawn until /health answered, and until /ready said ready. */
  healthMs: number;
  readyMs: number;
  output: () => string;
  /** How many lines the process has written so far, and those written since such a count (the last 2,000 are kept). */
  lineCount: () => number;
  linesSince: (count: number) => string[];
  stop(): Promise<void>;
};

export type BenchServer = SpawnedProcess & {
  /** The metrics listener (KUBEKLOUD_METRICS_PORT): GET `${metricsUrl}/metrics`. */
  metricsUrl: string;
  pid: number;
  admin: ApiClient;
};

/**
 * The file to run for a TypeScript entry point: the server as `npm run build`
 * builds it (server and console, each only when stale), or the ceiling bundled
 * into dist/bench/.
 */
export async function built(entry: string): Promise<string> {
  if (entry === 'src/main.ts') {
    await build();
    return SERVER_ENTRY;
  }
  const out = join(repoRoot, 'dist', 'bench', basename(entry).replace(/\.ts$/, '.mjs'));
  await bundle(join(repoRoot, entry), out);
  return out;
}

/**
 * The V8 flags the processes under test run with: the server's own
 * (`SERVER_NODE_FLAGS`), or those `BENCH_SERVER_FLAGS` names instead
 * (space-separated; empty for none), to measure another choice. The result
 * file of every benchmark that starts them records them.
 */
export function serverNodeFlags(): string[] {
  const given = process.env.BENCH_SERVER_FLAGS;
  return given === undefined ? [...SERVER_NODE_FLAGS] : given.split(/\s+/).filter(Boolean);
}

/**
 * glibc's malloc settings the processes under test run with: the server's own
 * (`SERVER_ENV`), with any given to the benchmark (MALLOC_ARENA_MAX,
 * MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES …) instead, to compare native memory
 * under others; recorded with the flags.
 */
export function serverMallocEnv(): Record<string, string> {
  const given = Object.entries(process.env).filter((e): e is [string, string] => /^(MALLOC_|GLIBC_TUNABLES$)/.test(e[0]) && e[1] !== undefined);
  return { ...SERVER_ENV, ...Object.fromEntries(given) };
}

export async function spawnProcess(
  entry: string,
  env: Record<string, string>,
  opts: { readyPath?: string; timeoutMs?: number } = {},
): Promise<SpawnedProcess> {
  const script = await built(entry);
  const port = await freePort();
  const fullEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), HOST: '127.0.0.1', ...serverMallocEnv(), ...env };
  let out = '';
  const t0 = now();
  // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" profiles the processes under test.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  // Every process under test (the server and the ceiling) runs with the same V8 flags: serverNodeFlags().
  const proc = spawn(process.execPath, [...serverNodeFlags(), ...nodeArgs, script], { cwd: repoRoot, env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  // Whole lines too, counted, so a run can say what the server logged during one of its steps.
  const KEPT_LINES = 2000;
  const lines: string[] = [];
  let lineTotal = 0;
  let partial = '';
  const take = (d: Buffer | string) => {
    out = (out + d).slice(-20_000);
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      lineTotal++;
    }
    if (lines.length > KEPT_LINES) lines.splice(0, lines.length - KEPT_LINES);
  };
  proc.stdout!.on('data', take);
  proc.stderr!.on('data', take);
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let healthMs = NaN;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${entry} exited at start (${proc.exitCode}):\n${out}`);
    try {
      const path = Number.isNaN(healthMs) ? '/health' : (opts.readyPath ?? '/ready');
      const res = await fetch(url + path);
      if (res.ok && Number.isNaN(healthMs)) healthMs = now() - t0;
      if (res.ok && path === (opts.readyPath ?? '/ready')) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${entry} not ready in time:\n${out}`);
    }
    await sleep(20);
  }
  const readyMs = now() - t0;
  return {
    url,
    proc,
    healthMs,
    readyMs,
    output: () => out,
    lineCount: () => lineTotal,
    linesSince: (count) => lines.slice(Math.max(0, lines.length - (lineTotal - count))),
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export async function startKubeKloud(o: {
  label: string;
  databaseUrl: string;
  adminToken: string;
  reconciler: boolean;
  env?: Record<string, string>;
}): Promise<BenchServer> {
  const metricsPort = await freePort();
  const p = await spawnProcess('src/main.ts', {
    KUBEKLOUD_METRICS_PORT: String(metricsPort),
    DATABASE_URL: o.databaseUrl,
    KUBECONFIG: testKubeconfigPath,
    KUBEKLOUD_ADMIN_TOKEN: o.adminToken,
    KUBEKLOUD_INSTALLATION: o.label,
    KUBEKLOUD_NAMESPACE_PREFIX: o.label,
    KUBEKLOUD_WORKER_ID: `${o.label}-bench`,
    KUBEKLOUD_RECONCILER: String(o.reconciler),
    LOG_LEVEL: 'warn',
    // The benchmarks measure capacity, not the per-caller rate limiter: lift it.
    KUBEKLOUD_RATE_LIMIT_RPS: '1000000',
    KUBEKLOUD_RATE_LIMIT_BURST: '10000000',
    KUBEKLOUD_WRITE_RATE_LIMIT_RPS: '1000000',
    KUBEKLOUD_WRITE_RATE_LIMIT_BURST: '10000000',
    ...o.env,
  });
  return { ...p, metricsUrl: `http://127.0.0.1:${metricsPort}`, pid: p.proc.pid!, admin: new ApiClient(p.url, o.adminToken) };
}

/** Values of one metric from a Prometheus text page, keyed by their label set. */
export function parseMetric(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[4]) });
  }
  return out;
}

/** A counter of the server's own /metrics (on its metrics listener), summed by the given labels (joined with ':'). */
export async function counterBy(metricsUrl: string, name: string, labels: string[]): Promise<Map<string, number>> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const m = new Map<string, number>();
  for (const s of parseMetric(text, name)) {
    const key = labels.map((l) => s.labels[l]).join(':');
    m.set(key, (m.get(key) ?? 0) + s.value);
  }
  return m;
}

/** Kubernetes calls the server made, by verb and kind. */
export const kubeCalls = (metricsUrl: string) => counterBy(metricsUrl, 'kubekloud_kube_request_duration_seconds_count', ['verb', 'kind']);

/** The observer's watches listing again, by kind and reason (start, expired, failed, resync). */
export const watchRelists = (metricsUrl: string) => counterBy(metricsUrl, 'kubekloud_watch_relists_total', ['kind', 'reason']);

export function diffCalls(after: Map<string, number>, before: Map<string, number>) {
  const byKey: Record<string, number> = {};
  const byVerb: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d <= 0) continue;
    byKey[k] = d;
    const verb = k.split(':')[0]!;
    byVerb[verb] = (byVerb[verb] ?? 0) + d;
  }
  return { byKey, byVerb };
}

export const WRITE_VERBS = new Set(['apply', 'delete', 'create', 'patch', 'update']);
