// Small helpers shared by the benchmark scenarios: timing, percentiles,
// process memory, the machine, and a table printed as figures arrive.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
export function rssMiB(pid: number): { rss: number; hwm: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
  } catch {
    return { rss: NaN, hwm: NaN };
  }
}

/**
 * CPU time (user + system) a process has used, in ms, from /proc (clock ticks
 * of 10 ms). Per request it shows what a request costs the server whatever
 * else the machine is doing, which req/s on a shared machine does not.
 */
export function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak seen. */
export function rssSampler(pid: number, everyMs = 250) {
  let peak = 0;
  const take = () => {
    const r = rssMiB(pid).rss;
    if (r > peak) peak = r;
  };
  take();
  const t = setInterval(take, everyMs);
  return {
    get peak() {
      return peak;
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
