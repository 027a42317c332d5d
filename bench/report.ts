// BENCHMARKS.md's figures, generated from the committed result files
// (bench/results/*.json, written by writeResults):
//
//   npm run bench:report              rewrites every generated section of BENCHMARKS.md
//   npm run bench:report -- --check   exits 1 when BENCHMARKS.md differs from what it would write
//
// A generated section sits between `<!-- bench:report <name> -->` and
// `<!-- /bench:report <name> -->`; everything outside the markers is left as
// it is. Each section shows one result file: the one PINNED names, else the
// newest (by the run's start) committed, valid file of its benchmark. Quick
// runs write `<bench>-quick` files, which no section shows. A result file
// counts once git knows it (`git add` is enough); its contents are read from
// the working tree. test/tooling/benchmarks-report.test.ts fails when the
// file and the generated sections differ.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planeMs, spread } from './lib/util.ts';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
export const BENCHMARKS_MD = join(root, 'BENCHMARKS.md');

/** The generated sections, each showing one benchmark's result file. */
export const SECTIONS = {
  reads: { bench: 'reads', command: 'npm run bench -- --only reads' },
  convergence: { bench: 'convergence', command: 'npm run bench -- --only plane' },
  fairness: { bench: 'fairness', command: 'npm run bench:fairness' },
  notify: { bench: 'notify', command: 'npm run bench:notify' },
  plane: { bench: 'plane', command: 'npm run bench:plane' },
  scale: { bench: 'scale', command: 'npm run bench -- --only scale' },
} as const;
export type Section = keyof typeof SECTIONS;

/** A section that shows a given file (relative to the repository) rather than the newest. */
export const PINNED: Partial<Record<Section, string>> = {};

export type ResultFile = { path: string; data: Record<string, any> };

/** The result files git knows (committed or added), read from the working tree. */
export function committedResults(repo = root): ResultFile[] {
  const out = execFileSync('git', ['ls-files', '--', 'bench/results/*.json'], { cwd: repo, encoding: 'utf8' });
  return out
    .split('\n')
    .filter(Boolean)
    .sort()
    .map((path) => ({ path, data: JSON.parse(readFileSync(join(repo, path), 'utf8')) as Record<string, any> }));
}

/** The file a section shows: the pinned one, else the newest valid result of its benchmark (null: none). */
export function pick(section: Section, files: ResultFile[], pinned = PINNED): ResultFile | null {
  const pin = pinned[section];
  if (pin) {
    const f = files.find((x) => x.path === pin);
    if (!f) throw new Error(`bench:report: ${section} is pinned to ${pin}, which git does not know`);
    return f;
  }
  const mine = files.filter((f) => f.data.bench === SECTIONS[section].bench && f.data.valid !== false);
  mine.sort((a, b) => String(a.data.date).localeCompare(String(b.data.date)) || a.path.localeCompare(b.path));
  return mine[mine.length - 1] ?? null;
}

// ---------------------------------------------------------------- formatting

/** A figure: integers from 100 up, `digits` decimals below. */
const num = (n: unknown, digits = 1): string => {
  if (typeof n !== 'number' || Number.isNaN(n)) return '—';
  return Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(digits);
};
const fixed = (n: unknown, digits: number): string => (typeof n === 'number' && !Number.isNaN(n) ? n.toFixed(digits) : '—');
type Spread = { median: number; min: number; max: number };
const spreadOf = (s: Spread | undefined, f: (n: number) => string): string => (s ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : '—');
const table = (head: string[], rows: string[][], align?: ('l' | 'r')[]): string =>
  [
    `| ${head.join(' | ')} |`,
    `| ${head.map((_, i) => (align?.[i] === 'r' ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
const utc = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
const load = (l: unknown) => (Array.isArray(l) ? String(l[0]) : '—');

/** Where a table's figures come from: the file, the commit, the machine and its load. */
function provenance(f: ResultFile, more = ''): string {
  const d = f.data;
  const m = d.machine ?? {};
  const lines = [
    `Figures from \`${f.path}\`: commit \`${d.commit}\`${d.srcTree ? ` (src/ tree \`${String(d.srcTree).slice(0, 12)}\`)` : ''}, ` +
      `${d.mode ? `${d.mode} run, ` : ''}started ${utc(String(d.date))}${typeof d.seconds === 'number' ? `, ${num(d.seconds / 60)} min` : ''}; ` +
      `Node ${d.node ?? '—'}${Array.isArray(d.serverNodeFlags) ? ` (processes under test: \`${d.serverNodeFlags.join(' ') || 'no V8 flags'}\`)` : ''}${d.kubernetes ? `, Kubernetes ${d.kubernetes}` : ''}; ${m.cores ?? '—'} cores (${m.cpuModel ?? '—'}), ${m.memoryGiB ?? '—'} GiB; ` +
      `load average ${load(m.loadavgAtStart)} at the start, ${load(d.loadavgAtEnd ?? d.loadavgAtWrite)} at the end.${more}`,
  ];
  if (d.notes) lines.push(`Notes: ${d.notes}`);
  if (d.valid === false) lines.push(`**Invalid run:** ${(d.invalidReasons ?? []).join('; ')}`);
  return lines.join('\n');
}

function targetsTable(d: Record<string, any>): string {
  const ts = (d.targets ?? []) as { target: string; figure: string; met: boolean }[];
  if (ts.length === 0) return '';
  return `\n\n${table(['target', 'figure', ''], ts.map((t) => [t.target, t.figure, t.met ? 'met' : '**missed**']))}`;
}

// ---------------------------------------------------------------- sections

const ENDPOINTS: Record<string, string> = {
  list: '`GET /api/v1/clusters/` (10 clusters, 100 instances)',
  getCluster: '`GET /api/v1/clusters/{id}` (10 instances)',
  getInstance: '`GET /api/v1/instances/{id}`',
};

function readsSection(f: ResultFile): string {
  const d = f.data;
  const c = d.config ?? {};
  const endpoints = (d.scenarios?.reads?.endpoints ?? {}) as Record<string, any>;
  const same = (d.scenarios?.sameAnswers ?? {}) as Record<string, { compared: number; equal: boolean }>;
  const compared = Object.values(same).reduce((n, s) => n + s.compared, 0);
  const allEqual = Object.values(same).every((s) => s.equal);
  const ms = (n: number) => num(n, 0);
  const cpu = (n: number) => fixed(n, 3);
  // The 1-minute load average after each timed run, both sides, every endpoint.
  const loads = Object.values(endpoints).flatMap((e) => (e.rounds ?? []).flatMap((r: any) => [r.ours?.loadavg?.[0], r.ceiling?.loadavg?.[0]])).filter((x): x is number => typeof x === 'number');
  const loadSpread = loads.length ? ` The load average after the timed runs: ${spreadOf(spread(loads), (n) => num(n))}.` : '';
  const rows: string[][] = [];
  for (const [key, e] of Object.entries(endpoints)) {
    for (const side of ['ours', 'ceiling'] as const) {
      const s = e[side];
      rows.push([
        side === 'ours' ? (ENDPOINTS[key] ?? key) : '',
        side === 'ours' ? 'KubeKloud' : 'ceiling',
        spreadOf(s.rps, (n) => num(n, 0)),
        spreadOf(s.p50, ms),
        spreadOf(s.p99, ms),
        spreadOf(s.cpuPerRequestMs, cpu),
        fixed(s.statementsPerRequest?.median, 2),
        String(e.non2xx?.[side] ?? '—'),
      ]);
    }
  }
  const ratios = Object.entries(endpoints).map(([key, e]) => [
    ENDPOINTS[key] ?? key,
    fixed(e.ratio, 3),
    `${fixed(e.roundRatios?.min, 3)}–${fixed(e.roundRatios?.max, 3)}`,
    e.ratio >= (c.floor ?? NaN) ? `met (≥ ${c.floor})` : `**missed** (≥ ${c.floor})`,
    fixed(e.cpuRatio, 2),
  ]);
  const fp = d.scenarios?.footprint ?? {};
  const footprint: string[][] = [
    ['start-up to /ready, empty database', `${num(fp.startupEmptyDb?.readyMs, 0)} ms`],
    ['resident memory idle (no rows)', `${num(fp.rssIdleMiB)} MiB`],
    ['resident memory at 10k instances, after the reads', `${num(fp.rssAt10kMiB)} MiB (ceiling ${num(fp.ceilingRssMiB)} MiB)`],
    ['V8 heap used at 10k instances', `${num(fp.heapAt10k?.usedMiB)} of ${num(fp.heapAt10k?.totalMiB)} MiB`],
  ];
  if (fp.startupAt10k) footprint.push(['start-up to /ready, 10k instances', `${num(fp.startupAt10k.readyMs, 0)} ms`]);
  return [
    provenance(f),
    '',
    `${c.tenants} tenants × ${c.clustersPerTenant} clusters × ${c.instancesPerCluster} instances; autocannon, ${c.connections} connections; ` +
      `per endpoint ${c.rounds} rounds of ${c.secondsPerRun} s against each side, the order swapped every round (${c.order}), after a ${c.warmupSeconds} s warm-up of each. ` +
      `Each cell: the median over the rounds (min–max). Before timing, the two sides gave equal answers (status, \`X-Total-Count\`, JSON body) to ` +
      `${compared} requests: ${allEqual ? 'all equal' : '**not all equal**'}.${loadSpread}`,
    '',
    table(
      ['endpoint', 'side', 'req/s', 'p50 ms', 'p99 ms', 'server CPU ms / request', 'SQL statements / request', 'non-2xx'],
      rows,
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    table(['endpoint', 'KubeKloud / ceiling req/s (medians)', 'per round', 'floor', 'server CPU / request, KubeKloud / ceiling'], ratios, ['l', 'r', 'r', 'l', 'r']),
    '',
    table(['footprint', ''], footprint, ['l', 'r']) + targetsTable(d),
  ].join('\n');
}

function convergenceSection(f: ResultFile): string {
  const d = f.data;
  const sc = d.scenarios ?? {};
  const rows: string[][] = [];
  const w = sc.writes;
  const c = d.config ?? {};
  const writeRow = (what: string, r: any) =>
    r && rows.push(['writes', what, `${num(r.p50)} / ${num(r.p99)} ms`, '', '', `${num(r.achievedPerSec)}/s achieved of ${num(r.offeredPerSec)}/s, ${r.errors} errors`]);
  writeRow(`create cluster (1 container) at ${c.createRatePerSecond}/s: p50 / p99`, w?.create);
  writeRow(`delete cluster at ${c.createRatePerSecond}/s: p50 / p99`, w?.delete);
  for (const r of Object.values((sc.convergence ?? {}) as Record<string, any>)) {
    const what = `${r.instances} ${r.kind === 'vm' ? 'VMs' : 'containers'}`;
    rows.push(['convergence', `${what}: POST → all running`, `${num(r.seconds)} s`, `${num(r.direct?.seconds)} s`, fixed(r.ratio, 2), `${num(r.instancesPerSecond)} instances/s`]);
    rows.push(['economy', `${what}: Kubernetes writes / instance, create → running`, fixed(r.economy?.createToRunning?.writesPerInstance, 2), fixed(r.direct ? r.direct.applies / r.instances : NaN, 2), '', '']);
    for (const op of ['stop', 'start'] as const) {
      if (!r[op]) continue;
      writeRow(`operate ${op} at ${c.operateRatePerSecond}/s: p50 / p99`, r[op].writes);
      rows.push(['economy', `${what}: Kubernetes writes / instance, ${op}`, fixed(r[op].economy?.writesPerInstance, 2), '', '', `all ${op === 'stop' ? 'stopped' : 'running'} after ${num(r[op].convergedSeconds)} s`]);
    }
    const td = r.teardown;
    if (td) {
      rows.push(['teardown', `${td.clusters} clusters (${what}): namespaces and rows gone`, `${num(td.seconds)} s`, '', '', `quota ${td.quotaZero ? 'exactly zero' : '**not zero**'}`]);
      rows.push(['economy', `${what}: Kubernetes writes / instance, delete`, fixed(r.economy?.delete?.writesPerInstance, 2), '', '', '']);
    }
  }
  const fp = sc.footprint ?? {};
  if (fp.startupWithPlane) rows.push(['footprint', 'start-up to /ready (reconciler, plane)', `${num(fp.startupWithPlane.readyMs, 0)} ms`, '', '', '']);
  if (fp.rssPeakLargestRunMiB !== undefined) rows.push(['footprint', 'resident memory, peak during the largest container run', `${num(fp.rssPeakLargestRunMiB)} MiB`, '', '', '']);
  if (fp.rssAfterPlaneRunsMiB) {
    rows.push(['footprint', 'resident memory after the plane runs (all deleted)', `${num(fp.rssAfterPlaneRunsMiB.rss)} MiB`, '', '', `V8 heap used ${num(fp.heapAfterPlaneRuns?.usedMiB)} of ${num(fp.heapAfterPlaneRuns?.totalMiB)} MiB`]);
  }
  const nodes = d.plane ? ` Fake nodes ${d.plane.nodesBefore} → ${d.plane.nodesAfter}.` : '';
  return [
    provenance(f, nodes),
    '',
    table(['scenario', 'figure', 'KubeKloud', 'ceiling', 'KubeKloud / ceiling', ''], rows, ['l', 'l', 'r', 'r', 'r', 'l']) + targetsTable(d),
  ].join('\n');
}

function fairnessSection(f: ResultFile): string {
  const d = f.data;
  const ms = (n: number) => fixed(n, 2);
  const cpu = d.serverCpuMsPerBRequest ?? {};
  const perRound = (d.perRound ?? []) as { alone: any; loaded: any; loadavg: number[] }[];
  return [
    provenance(f),
    '',
    `Caps: ${d.caps?.streams} event streams, ${d.caps?.waits} \`?wait=\`, ${d.caps?.tokens} live tokens; A holds ${(d.hold ?? []).join(', ')} and knocks ` +
      `${d.hammerRatePerSecond} requests/s; B: ${d.rounds} rounds of ${d.requestsPerRound} list requests per phase, ${d.concurrency} at a time.`,
    '',
    table(
      ['B\'s `GET /api/v1/clusters/`', 'requests', 'p50 ms', 'p99 ms', 'server CPU ms per B request'],
      [
        ['B alone', String(d.alone?.count), ms(d.alone?.p50), ms(d.alone?.p99), fixed(cpu.alone, 3)],
        ['A at its caps', String(d.atCaps?.count), ms(d.atCaps?.p50), ms(d.atCaps?.p99), `${fixed(cpu.atCaps, 3)} (A's requests included)`],
      ],
      ['l', 'r', 'r', 'r', 'r'],
    ),
    '',
    `p99 with A at its caps / p99 alone: **${fixed(d.p99Ratio, 2)}** (target ≤ ${d.target}): ${d.met ? 'met' : '**missed**'}.`,
    '',
    table(
      ['round', 'load average', 'alone p50 / p99 ms', 'A at its caps p50 / p99 ms'],
      perRound.map((r, i) => [String(i + 1), load(r.loadavg), `${ms(r.alone.p50)} / ${ms(r.alone.p99)}`, `${ms(r.loaded.p50)} / ${ms(r.loaded.p99)}`]),
      ['r', 'r', 'r', 'r'],
    ),
  ].join('\n');
}

function notifySection(f: ResultFile): string {
  const d = f.data;
  const ms = (n: number) => fixed(n, 2);
  const row = (what: string, s: any) => [what, String(s?.count ?? '—'), ms(s?.p50), ms(s?.p90), ms(s?.p99), ms(s?.max)];
  return [
    provenance(f),
    '',
    table(
      [`${d.writes} writes on replica A, heard on replica B's event stream`, 'writes', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
      [row("from A's answer", d.fromAnswerMs), row('from the request', d.fromRequestMs)],
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `p99 from A's answer: **${ms(d.fromAnswerMs?.p99)} ms** (target < ${d.targetP99Ms} ms): ${d.met ? 'met' : '**missed**'}. B polled the database ${d.pollsOnB} times.`,
  ].join('\n');
}

function planeSection(f: ResultFile): string {
  const d = f.data;
  const mib = (m: Record<string, number> | undefined) =>
    m ? `${num(Object.values(m).reduce((a, b) => a + b, 0) / 1024, 0)} MiB (${Object.entries(m).map(([k, v]) => `${k} ${num(v / 1024, 0)}`).join(', ')})` : '—';
  const rows: string[][] = [];
  if (d.coldBuildSeconds !== undefined) rows.push(['cold build', `${num(d.coldBuildSeconds, 0)} s`]);
  if (d.lastBuild) rows.push(['last build by the harness', `${d.lastBuild.seconds} s, ${d.lastBuild.packages} packages`]);
  rows.push(['warm start (down, then up to ready)', `${num(d.warmStartSeconds)} s`]);
  rows.push(['resident memory, idle', mib(d.rssIdleKiB)]);
  if (d.podsRunning) rows.push([`${d.podsRunning.pods} pods (Deployment) to Running`, `${num(d.podsRunning.seconds)} s`]);
  rows.push(['resident memory after the pods', mib(d.rssAfterPodsKiB)]);
  rows.push(['namespace with the pods deleted', `${num(d.namespaceDeleteSeconds)} s`]);
  const versions = d.versions ? `Versions: ${Object.entries(d.versions as Record<string, string>).map(([k, v]) => `${k} ${v}`).join(', ')}.` : '';
  return [provenance(f), ...(versions ? ['', versions] : []), '', table(['figure', ''], rows, ['l', 'r'])].join('\n');
}

function scaleSection(f: ResultFile): string {
  const d = f.data;
  const sc = d.scenarios ?? {};
  const c = d.config ?? {};
  const runs = Object.values((sc.convergence ?? {}) as Record<string, any>);
  const sizeLabel = (n: number, kind: string) => `${n.toLocaleString('en-US')} ${kind === 'vm' ? 'VMs' : 'containers'}`;
  const what = (r: any) => sizeLabel(r.instances, r.kind);
  const time = runs.map((r) => [
    what(r),
    `${num(r.seconds)} s`,
    `${num(r.direct?.seconds)} s`,
    fixed(r.ratio, 2),
    r.ratioOfPairs ? `${fixed(r.ratioOfPairs.median, 2)} (${r.pairs.length}: ${fixed(r.ratioOfPairs.min, 2)}–${fixed(r.ratioOfPairs.max, 2)})` : '—',
    num(r.instancesPerSecond),
    fixed(r.serverCpuMsPerInstance, 1),
    `${num(r.teardown?.seconds)} s`,
    r.teardown ? (r.teardown.quotaZero ? 'zero' : '**not zero**') : '—',
  ]);
  const growth = runs.map((r) => [
    what(r),
    `${num(r.memory?.rssBeforeMiB)} / ${num(r.memory?.rssPeakMiB)} / ${num(r.memory?.rssRunningMiB)} / ${num(r.memory?.rssAfterTeardownMiB)}${r.memory?.rssMinuteAfterTeardownMiB === undefined ? '' : `, ${num(r.memory.rssMinuteAfterTeardownMiB)}`}`,
    num(r.memory?.heapRunning?.usedMiB),
    fixed(r.database?.createToRunning?.commits, 2),
    fixed(r.database?.createToRunning?.rowsWritten, 2),
    fixed(r.database?.createToRunning?.rowsRead, 1),
    `${fixed(r.economy?.createToRunning?.writesPerInstance, 2)} / ${fixed(r.direct ? r.direct.applies / r.instances : NaN, 2)}`,
    fixed(r.economy?.delete?.writesPerInstance, 2),
  ]);
  // Where each side's CPU went (runs before this was recorded have none).
  const cpuRow = (r: any, side: string, cpu: any) => {
    const g = (cpu?.msPerInstance ?? {}) as Record<string, number>;
    const sum = (keys: string[]) => keys.reduce((a, k) => a + (g[k] ?? 0), 0);
    const rest = Object.keys(g).filter((k) => k.startsWith('plane:') && k !== 'plane:kube-apiserver' && k !== 'plane:etcd');
    return [what(r), side, fixed(planeMs(g), 1), fixed(g['plane:kube-apiserver'], 1), fixed(g['plane:etcd'], 1), fixed(sum(rest), 1), fixed(g.postgres, 1), fixed(g.kubekloud, 1), fixed(g.bench, 1), fixed(g.other, 1), fixed(sum(Object.keys(g)), 1), fixed(cpu?.busyCores, 2)];
  };
  const cpu = runs.filter((r) => r.cpu && r.direct?.cpu).flatMap((r) => [cpuRow(r, 'KubeKloud', r.cpu), cpuRow(r, 'ceiling', r.direct.cpu)]);
  const cpuTable = cpu.length
    ? '\n\nCPU per instance (ms) by process, from create to all running, on each side: the plane (its API server, etcd, and kwok, the controllers and the stand-ins), PostgreSQL, the KubeKloud server, the bench process (the ceiling\'s client; the waits\' polling), the rest of the machine, and the machine\'s mean busy cores (2 in all).\n\n' +
      table(['size', 'side', 'plane', 'API server', 'etcd', 'rest of plane', 'PostgreSQL', 'KubeKloud server', 'bench', 'other', 'all', 'busy cores'], cpu, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'])
    : '';
  const missing = ((c.sizes ?? []) as { kind: string; n: number }[]).filter((z) => !sc.convergence?.[`${z.kind}-${z.n}`]);
  const notMeasured = missing.length
    ? ` Not in this file (the run ended before them): ${missing.map((z) => sizeLabel(z.n, z.kind)).join(', ')}.`
    : '';
  // A full resync (every watch lists again) costs CPU and memory, and falls within a size's window or not by chance.
  const relisted = runs
    .filter((r) => r.relists !== undefined)
    .map((r) => {
      const byReason = new Map<string, number>();
      for (const [key, n] of Object.entries(r.relists as Record<string, number>)) {
        const reason = key.split(':').pop()!;
        byReason.set(reason, (byReason.get(reason) ?? 0) + n);
      }
      return `${what(r)}: ${byReason.size ? [...byReason].map(([reason, n]) => `${n} (${reason})`).join(', ') : 'none'}`;
    });
  const relistLine = relisted.length
    ? `\n\nThe observer's watches that listed again from create to all running (a resync lists every kind once, every \`KUBEKLOUD_RESYNC_SECONDS\` ±10 %, so whether one falls within a size is chance): ${relisted.join('; ')}.`
    : '';
  // What the server warned of while a size converged (runs before this was recorded have none).
  const warned = runs.filter((r) => r.serverWarnings).map((r) => {
    const w = Object.entries(r.serverWarnings as Record<string, number>);
    return `${what(r)}: ${w.length ? w.map(([text, n]) => `${n} × "${text}"`).join(', ') : 'none'}`;
  });
  const warningLine = warned.length ? `\n\nWhat the server logged as warnings from create to all running: ${warned.join('; ')}.` : '';
  // A resync asked for (SIGHUP) once every instance of a size ran (runs before this was recorded have none).
  // V8's new, old and large-object spaces (MiB held from the system), where the run recorded them.
  const spaces = (m: Record<string, number> | undefined) => (m ? `${num(m.new)} / ${num(m.old)} / ${num(m.large_object)}` : '—');
  const resyncs = runs.filter((r) => r.resync).map((r) => {
    const lists = Object.values(r.resync.relists as Record<string, number>).reduce((a, b) => a + b, 0);
    return [what(r), `${num(r.resync.rssPeakMiB)}`, `${fixed(r.resync.serverCpuMs / 1000, 1)} s`, String(lists), spaces(r.memory?.heapRunning?.spacesMiB), spaces(r.resync.heapSpacesMostMiB)];
  });
  const resyncTable = resyncs.length
    ? `\n\nA resync asked for (\`SIGHUP\`) with every instance of a size running: every watched kind listed and judged again. Sampled over the ${num(runs.find((r) => r.resync)!.resync.windowSeconds)} s after the signal; V8's spaces (new / old / large objects, MiB held) read from the server's metrics when all were running and, at most, during the window (every second).\n\n` +
      table(['size', 'resident MiB, peak', 'server CPU', 'lists', 'V8 spaces, all running', 'V8 spaces, most during the resync'], resyncs, ['l', 'r', 'r', 'r', 'r', 'r'])
    : '';
  // The plane's API server, every client together (runs before this was recorded have none).
  const served = (m: Record<string, number> | undefined, events: boolean) =>
    m ? Object.entries(m).filter(([k]) => k.startsWith('watch-event:') === events).reduce((a, [, v]) => a + v, 0) : NaN;
  // The watchers the plane's API server ended for falling behind (apiserver_terminated_watchers_total), by resource: each then lists again.
  const ended = (m: Record<string, number> | undefined) => {
    const byResource = Object.entries(m ?? {}).filter(([k, v]) => k.startsWith('terminated-watchers:') && v > 0);
    return byResource.length ? byResource.map(([k, v]) => `${num(v, 0)} ${k.slice('terminated-watchers:'.length)}`).join(', ') : '0';
  };
  const withEnded = runs.some((r) => r.planeWatches && r.direct?.planeWatches);
  const planeRows = runs.filter((r) => r.planeRequests && r.direct?.planeRequests).map((r) => [
    what(r),
    `${fixed(served(r.planeRequests, false), 2)} / ${fixed(served(r.direct.planeRequests, false), 2)}`,
    `${fixed(served(r.planeRequests, true), 2)} / ${fixed(served(r.direct.planeRequests, true), 2)}`,
    ...(withEnded ? [r.planeWatches && r.direct?.planeWatches ? `${ended(r.planeWatches)} / ${ended(r.direct.planeWatches)}` : '—'] : []),
  ]);
  const planeTable = planeRows.length
    ? "\n\nWhat the plane's API server served per instance from create to all running, every client together (the plane's own controllers, kwok and stand-ins included; its `apiserver_request_total` and `apiserver_watch_events_total`), KubeKloud's side / the ceiling's" +
      (withEnded ? ", and the watchers it ended meanwhile for falling behind (`apiserver_terminated_watchers_total`; each such client lists again, so a size with any measures the plane's relists as well)" : '') +
      '.\n\n' +
      table(['size', 'requests / instance', 'watch events sent / instance', ...(withEnded ? ['watchers ended'] : [])], planeRows, ['l', 'r', 'r', ...(withEnded ? (['r'] as const) : [])])
    : '';
  // The pairs after a size's first, where the run had them: time only, the order swapped from one to the next.
  const pairRows = runs.filter((r) => r.pairs).flatMap((r) =>
    (r.pairs as { order: string; ours: number; ceiling: number; ratio: number }[]).map((x, i) => [what(r), String(i + 1), x.order, `${num(x.ours)} s`, `${num(x.ceiling)} s`, fixed(x.ratio, 2)]),
  );
  const pairsTable = pairRows.length
    ? "\n\nEvery ours/ceiling pair at the sizes run more than once (the first is the one above, with every other figure; the rest are time only, KubeKloud's teardown and the ceiling's namespaces gone before the other side starts). Where a size has pairs, its ratio is judged on their median.\n\n" +
      table(['size', 'pair', 'order', 'POST → all running', 'ceiling', 'KubeKloud / ceiling'], pairRows, ['l', 'r', 'l', 'r', 'r', 'r'])
    : '';
  const idle = sc.idle ? `Idle, with the reconciler on and nothing to do: ${num(sc.idle.rssMiB)} MiB resident, V8 heap ${num(sc.idle.heap?.usedMiB)} MiB used.` : '';
  return [
    provenance(f, d.plane ? ` Fake nodes ${d.plane.nodesBefore} → ${d.plane.nodesAfter}.` : ''),
    '',
    `One server, its reconciler on (${c.reconcileConcurrency} at a time), through every size in turn on one database; each size as clusters of ${c.clusterSize}, ` +
      `${c.postsAtOnce} POSTs at a time, then GET until all are running; the ceiling applies the same objects directly, at the same concurrency, just before.` +
      `${c.pollPause ? ` Both sides' waits pause ${c.pollPause} between asks.` : ' Both sides\' waits pause 250 ms between asks.'} ${idle}${notMeasured}`,
    '',
    table(['size', 'POST → all running', 'ceiling', 'KubeKloud / ceiling', 'median of pairs (pairs: spread)', 'instances/s', 'server CPU ms / instance', 'teardown', 'quota after'], time, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']) + pairsTable,
    '',
    table(
      ['size', `resident MiB: before / peak / all running / after teardown${runs.some((r) => r.memory?.rssMinuteAfterTeardownMiB !== undefined) ? ' (10 s, 60 s)' : ''}`, 'V8 heap used, all running (MiB)', 'DB commits / instance', 'DB rows written / instance', 'DB rows read / instance', 'Kubernetes writes / instance, create (KubeKloud / ceiling)', 'Kubernetes writes / instance, delete'],
      growth,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ) + relistLine + warningLine + resyncTable + cpuTable + planeTable + targetsTable(d),
  ].join('\n');
}

const RENDER: Record<Section, (f: ResultFile) => string> = {
  reads: readsSection,
  convergence: convergenceSection,
  fairness: fairnessSection,
  notify: notifySection,
  plane: planeSection,
  scale: scaleSection,
};

/** One section's generated text (without its markers). */
export function renderSection(section: Section, f: ResultFile | null): string {
  const head = `<!-- Generated by \`npm run bench:report\`: edit the result files or the report, not this text. -->`;
  if (!f) return `${head}\n\nNo committed result of \`${SECTIONS[section].command}\` yet.`;
  return `${head}\n\n${RENDER[section](f)}`;
}

const marker = (section: string, end = false) => `<!-- ${end ? '/' : ''}bench:report ${section} -->`;

/** The generated sections found in `markdown`, in order, with where each one's text starts and ends. */
export function sectionsIn(markdown: string): { section: string; start: number; end: number }[] {
  const out: { section: string; start: number; end: number }[] = [];
  for (const m of markdown.matchAll(/<!-- bench:report ([a-z][a-z-]*) -->/g)) {
    const close = marker(m[1]!, true);
    const start = m.index + m[0].length;
    const end = markdown.indexOf(close, start);
    if (end < 0) throw new Error(`bench:report: no ${close} after ${m[0]}`);
    out.push({ section: m[1]!, start, end });
  }
  return out;
}

/** `markdown` with every generated section replaced by what the result files give. */
export function generate(markdown: string, files: ResultFile[], pinned = PINNED): string {
  let out = '';
  let at = 0;
  const seen = new Set<string>();
  for (const s of sectionsIn(markdown)) {
    if (!(s.section in SECTIONS)) throw new Error(`bench:report: unknown section ${s.section} (known: ${Object.keys(SECTIONS).join(', ')})`);
    if (seen.has(s.section)) throw new Error(`bench:report: section ${s.section} appears twice`);
    seen.add(s.section);
    const section = s.section as Section;
    out += `${markdown.slice(at, s.start)}\n${renderSection(section, pick(section, files, pinned))}\n`;
    at = s.end;
  }
  return out + markdown.slice(at);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const current = readFileSync(BENCHMARKS_MD, 'utf8');
  const files = committedResults();
  const next = generate(current, files);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      console.error('BENCHMARKS.md differs from what `npm run bench:report` makes of the committed results; run it.');
      process.exit(1);
    }
    console.log('BENCHMARKS.md matches the committed results.');
  } else {
    writeFileSync(BENCHMARKS_MD, next);
    for (const section of Object.keys(SECTIONS) as Section[]) {
      const f = pick(section, files);
      console.log(`${section.padEnd(12)} ${f ? `${f.path} (commit ${f.data.commit})` : 'no committed result'}`);
    }
  }
}
