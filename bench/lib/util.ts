// Small helpers shared by the benchmark scenarios: timing, percentiles,
// process memory, the machine, and a table printed as figures arrive.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();

/**
 * The pause between two asks of a wait that polls (until all are running):
 * at least 250 ms, and nine times as long as the last answer took, so that
 * the waiting keeps what it asks busy a tenth of the time at most. At 10,000
 * VMs the whole list took 167 ms to answer and a fixed 250 ms pause kept the
 * server answering polls 42 % of the time; the resolution it costs (about
 * 1.7 s there) is small against a run of minutes.
 */
export const pollPause = (lastAnswerMs: number) => sleep(Math.max(250, 9 * lastAnswerMs));
/** pollPause's rule in words, as the result files record it. */
export const POLL_PAUSE_RULE = 'max(250 ms, 9 × the last answer)';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** The median of repeated measurements and their spread. */
export function spread(values: number[]): { median: number; min: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN };
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

export function summarise(latenciesMs: number[]) {
  const s = [...latenciesMs].sort((a, b) => a - b);
  return { count: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

/** Resident memory of a process, from /proc: current and peak (high-water mark), in MiB. */
/** The resident set: in all, its high-water mark, and its anonymous (heaps, native memory) and file-backed (the binary's mapped code and data) parts. */
export function rssMiB(pid: number): { rss: number; hwm: number; anon: number; file: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024, anon: kib('RssAnon') / 1024, file: kib('RssFile') / 1024 };
  } catch {
    return { rss: NaN, hwm: NaN, anon: NaN, file: NaN };
  }
}

/**
 * CPU time (user + system) a process has used, in ms, from /proc (clock ticks
 * of 10 ms). Per request it shows what a request costs the server whatever
 * else the machine is doing, which req/s on a shared machine does not.
 */
/** Clock ticks of /proc's CPU counters, in ms (USER_HZ is 100 on Linux). */
const TICK_MS = 10;

export function cpuMs(pid: number): number {
  return cpuOf(pid).ms;
}

/**
 * A process's own CPU time and that of its children it has waited for (ms):
 * a PostgreSQL backend that ended, say, is in the postmaster's second figure.
 */
function cpuOf(pid: number): { ms: number; childrenMs: number } {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { ms: (Number(fields[11]) + Number(fields[12])) * TICK_MS, childrenMs: (Number(fields[13]) + Number(fields[14])) * TICK_MS };
  } catch {
    return { ms: NaN, childrenMs: NaN };
  }
}

/**
 * CPU time used so far by every process that shares the machine, grouped by
 * what it is: each of the control plane's components (the plane binary's
 * subcommand: kube-apiserver, etcd, kwok, …), PostgreSQL (every backend), the
 * KubeKloud server (`serverPid`), this benchmark process (the ceiling's client
 * and the waits' polling), and the machine's busy and idle time in all. Two
 * readings subtracted (cpuSpent) say where a run's CPU went: on two shared
 * cores, what KubeKloud and PostgreSQL spend is what the plane does not get.
 */
export function cpuByProcess(serverPid?: number): CpuReading {
  const out: CpuReading = { machineBusyMs: 0, machineIdleMs: 0, processes: {} };
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal
  out.machineIdleMs = ((ticks[3] ?? 0) + (ticks[4] ?? 0)) * TICK_MS;
  out.machineBusyMs = [0, 1, 2, 5, 6, 7].reduce((a, k) => a + (ticks[k] ?? 0), 0) * TICK_MS;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let group: string | null = null;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (pid === serverPid) group = 'kubekloud';
      else if (pid === process.pid) group = 'bench';
      else if (argv[0]?.endsWith('/kkplane')) group = `plane:${argv[1] ?? '?'}`;
      else if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres') group = 'postgres';
      if (group === null) continue;
      out.processes[pid] = { group, ...cpuOf(pid) };
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
export type CpuReading = { machineBusyMs: number; machineIdleMs: number; processes: Record<number, { group: string; ms: number; childrenMs: number }> };

/**
 * Where the CPU went between two readings, per instance (ms): by group (each
 * process's time since the first reading, or since it started, and that of
 * its children that ended meanwhile), the rest of the machine's busy time as
 * `other`, and the mean busy cores. A PostgreSQL backend that ended meanwhile
 * counts as PostgreSQL: the postmaster waited for it, and what it had spent
 * before the first reading (in the postmaster's children's time now) is taken
 * off again; a child that outlived the window counts as itself.
 */
export function cpuSpent(before: CpuReading, after: CpuReading, instances: number, seconds: number) {
  const spent: Record<string, number> = {};
  for (const [pid, p] of Object.entries(after.processes)) {
    const was = before.processes[Number(pid)];
    const same = was?.group === p.group;
    spent[p.group] = (spent[p.group] ?? 0) + Math.max(0, p.ms - (same ? was.ms : 0)) + Math.max(0, p.childrenMs - (same ? was.childrenMs : 0));
  }
  for (const [pid, p] of Object.entries(before.processes)) {
    if (p.group === 'postgres' && !(pid in after.processes)) spent.postgres = Math.max(0, (spent.postgres ?? 0) - p.ms);
  }
  const busy = after.machineBusyMs - before.machineBusyMs;
  const idle = after.machineIdleMs - before.machineIdleMs;
  const named = Object.values(spent).reduce((a, b) => a + b, 0);
  spent.other = Math.max(0, busy - named);
  const msPerInstance = Object.fromEntries(Object.entries(spent).map(([g, ms]) => [g, Math.round((ms / instances) * 100) / 100]));
  return { msPerInstance, busyCores: Math.round((busy / 1000 / seconds) * 100) / 100, busyShare: Math.round((busy / (busy + idle)) * 1000) / 1000 };
}

/** The control plane's share of a cpuSpent record: its components (`plane:…` groups) summed. */
export const planeMs = (msPerInstance: Record<string, number>) =>
  Object.entries(msPerInstance).filter(([k]) => k.startsWith('plane:')).reduce((a, [, v]) => a + v, 0);

/** Samples a process's RSS every `everyMs` until stopped; returns the peak seen. */
export function rssSampler(pid: number, everyMs = 250) {
  let peak = 0;
  /** The anonymous and file-backed parts at the peak. */
  let parts = { anon: NaN, file: NaN };
  const take = () => {
    const r = rssMiB(pid);
    if (r.rss > peak) {
      peak = r.rss;
      parts = { anon: r.anon, file: r.file };
    }
  };
  take();
  const t = setInterval(take, everyMs);
  return {
    get peak() {
      return peak;
    },
    get peakParts() {
      return parts;
    },
    stop() {
      clearInterval(t);
      take();
      return peak;
    },
  };
}

export const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);

export function machine() {
  const c = cpus();
  return {
    cores: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    loadavgAtStart: loadavg(),
  };
}

export function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

export const fmt = (n: number | undefined | null, digits = 1) =>
  n === undefined || n === null || Number.isNaN(n) ? '—' : n >= 100 ? n.toFixed(0) : n.toFixed(digits);

/** Prints progress lines and table rows as they come; keeps the rows for the summary. */
export class Report {
  readonly rows: { scenario: string; figure: string; ours: string; ceiling: string; ratio: string; target: string }[] = [];
  private started = now();

  private lastTick = new Map<string, number>();

  /** Like progress, at most once every 3 s per key (long phases). */
  tick(key: string, msg: string, force = false) {
    const t = now();
    if (!force && t - (this.lastTick.get(key) ?? 0) < 3000) return;
    this.lastTick.set(key, t);
    this.progress(msg);
  }

  progress(msg: string) {
    const t = ((now() - this.started) / 1000).toFixed(0).padStart(4);
    console.log(`  [${t}s] ${msg}`);
  }

  row(scenario: string, figure: string, ours: string, ceiling = '', ratio = '', target = '') {
    const r = { scenario, figure, ours, ceiling, ratio, target };
    this.rows.push(r);
    console.log(`| ${scenario.padEnd(12)} | ${figure.padEnd(40)} | ${ours.padStart(12)} | ${ceiling.padStart(12)} | ${ratio.padStart(7)} | ${target}`);
  }

  header(title: string) {
    console.log(`\n== ${title}`);
  }

  markdown(): string {
    const lines = ['| scenario | figure | KubeKloud | ceiling | ratio | target |', '| --- | --- | ---: | ---: | ---: | --- |'];
    for (const r of this.rows) lines.push(`| ${r.scenario} | ${r.figure} | ${r.ours} | ${r.ceiling} | ${r.ratio} | ${r.target} |`);
    return lines.join('\n');
  }
}

export const verdict = (ok: boolean, what: string) => `${ok ? 'MET' : 'MISSED'} (${what})`;

/** Runs `fn` over items with at most `limit` at once. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * An open-loop generator: starts `fn` at a fixed rate for `count` calls,
 * whatever the previous calls are doing, and times each from its scheduled start.
 */
export async function openLoop(ratePerSec: number, count: number, fn: (i: number) => Promise<boolean>) {
  const latencies: number[] = [];
  let errors = 0;
  const t0 = now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / ratePerSec;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
    inflight.push(
      fn(i).then(
        (ok) => {
          latencies.push(now() - due);
          if (!ok) errors++;
        },
        () => {
          latencies.push(now() - due);
          errors++;
        },
      ),
    );
  }
  await Promise.all(inflight);
  const seconds = (now() - t0) / 1000;
  return { ...summarise(latencies), errors, seconds, achievedPerSec: count / seconds, offeredPerSec: ratePerSec };
}
