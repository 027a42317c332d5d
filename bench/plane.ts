// Figures for the local control plane (not a test):
//   npm run bench:plane [-- --build-log <file with `time go build` output>] [-- --pods 100]
// Prints: build time, warm start of the whole plane (down, then up to ready),
// resident memory of every component, and the time for N pods to reach Running.
// It stops and starts the plane it measures (`down`, then `up`): run it only
// on a plane nobody else uses. Writes its figures through writeResults:
// bench/results/<date>-<commit>-plane.json.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { buildPlan, ensureBinary } from '../testenv/harness/build.ts';
import { down, residentMemoryKiB, up } from '../testenv/harness/plane.ts';
import { runStamp, writeResults } from './lib/results.ts';
import { loadavg, machine } from './lib/util.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function parseTimeOutput(text: string): number | undefined {
  const m = /real\s+(\d+)m([\d.]+)s/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

const stamp = runStamp();
const results: Record<string, unknown> = { machine: machine(), notes: 'Shared 2-core machine: other work may run at the same time; figures are noisy.' };
const say = (label: string, value: string) => console.log(`${label.padEnd(34)} ${value}`);

// 1. Build
const buildLog = arg('build-log');
if (buildLog) {
  const secs = parseTimeOutput(readFileSync(buildLog, 'utf8'));
  results.coldBuildSeconds = secs;
  say('cold build (from --build-log)', secs === undefined ? 'no `real` line found' : `${secs.toFixed(0)} s`);
}
const plan = await ensureBinary();
const record = join(dirname(plan.binary), 'build.json');
if (existsSync(record)) {
  const r = JSON.parse(readFileSync(record, 'utf8'));
  results.lastBuild = r;
  say('last build by the harness', `${r.seconds} s, ${r.packages} packages compiled (${r.builtAt})`);
}
results.versions = buildPlan().versions;
say('versions', Object.entries(buildPlan().versions).map(([k, v]) => `${k} ${v}`).join(', '));

// 2. Warm start
await down({ log: () => {} });
const t0 = Date.now();
const started = await up({ log: () => {} });
const warmMs = Date.now() - t0;
results.warmStartSeconds = warmMs / 1000;
say('warm start (down, then up to ready)', `${(warmMs / 1000).toFixed(1)} s (components ${((started.startupMs ?? 0) / 1000).toFixed(1)} s)`);

// 3. Memory right after start, then after the pod run
const rss = () => residentMemoryKiB();
const fmtRss = (m: Record<string, number>) =>
  `${(Object.values(m).reduce((a, b) => a + b, 0) / 1024).toFixed(0)} MiB total (` +
  Object.entries(m).map(([k, v]) => `${k} ${(v / 1024).toFixed(0)}`).join(', ') + ')';
const idle = rss();
results.rssIdleKiB = idle;
say('resident memory, idle', fmtRss(idle));

// 4. N pods to Running
const n = Number(arg('pods') ?? 100);
const kc = new KubeConfig();
kc.loadFromFile(started.kubeconfigPath);
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const ns = `bench-${Date.now().toString(36)}`;
await core.createNamespace({ body: { metadata: { name: ns } } });
for (;;) {
  try {
    await core.readNamespacedServiceAccount({ name: 'default', namespace: ns });
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 100));
  }
}
const p0 = Date.now();
await apps.createNamespacedDeployment({
  namespace: ns,
  body: {
    metadata: { name: 'bench' },
    spec: {
      replicas: n,
      selector: { matchLabels: { app: 'bench' } },
      template: {
        metadata: { labels: { app: 'bench' } },
        spec: { containers: [{ name: 'c', image: 'nginx', resources: { requests: { cpu: '10m', memory: '16Mi' } } }] },
      },
    },
  },
});
let running = 0;
while (running < n) {
  const pods = await core.listNamespacedPod({ namespace: ns });
  running = pods.items.filter((p) => p.status?.phase === 'Running').length;
  if (Date.now() - p0 > 300_000) throw new Error(`only ${running}/${n} pods Running after 300 s`);
  if (running < n) await new Promise((r) => setTimeout(r, 250));
}
const podsMs = Date.now() - p0;
results.podsRunning = { pods: n, seconds: podsMs / 1000 };
say(`${n} pods (Deployment) to Running`, `${(podsMs / 1000).toFixed(1)} s`);
const busy = rss();
results.rssAfterPodsKiB = busy;
say(`resident memory, ${n} pods`, fmtRss(busy));

const d0 = Date.now();
await core.deleteNamespace({ name: ns });
for (;;) {
  try {
    await core.readNamespace({ name: ns });
    await new Promise((r) => setTimeout(r, 250));
  } catch {
    break;
  }
}
results.namespaceDeleteSeconds = (Date.now() - d0) / 1000;
say(`namespace with ${n} pods deleted`, `${((Date.now() - d0) / 1000).toFixed(1)} s`);

const out = writeResults('plane', { ...results, loadavgAtEnd: loadavg() }, stamp);
console.log(`results written to ${out}`);
if (!process.argv.includes('--keep')) await down({ log: () => {} });
