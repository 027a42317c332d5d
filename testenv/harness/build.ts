// Builds the one multi-call binary `kkplane` (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok) from testenv/go.mod and caches
// it outside the repository, keyed by everything that goes into it.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PlaneError, cacheRoot, testenvDir } from './config.ts';
import { withLock } from './lock.ts';

/** Bump when the way the binary is built changes. */
const RECIPE = 'kkplane-build-1';

export interface Versions {
  kubernetes: string;
  etcd: string;
  kwok: string;
  go: string;
}

function goVersion(): string {
  const r = spawnSync('go', ['env', 'GOVERSION', 'GOOS', 'GOARCH'], { encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new PlaneError(
      'Go 1.26 or newer is needed to build the local control plane, and `go` is not on PATH (https://go.dev/dl/).',
    );
  }
  if (r.status !== 0) throw new PlaneError(`\`go env\` failed: ${r.stderr.trim()}`);
  return r.stdout.trim().split('\n').join(' ');
}

function requiredVersion(gomod: string, module: string): string {
  const m = new RegExp(`^\\s*(?:require\\s+)?${module.replace(/[.]/g, '\\.')}\\s+(v\\S+)`, 'm').exec(gomod);
  if (!m?.[1]) throw new PlaneError(`testenv/go.mod does not require ${module}`);
  return m[1];
}

export function pinnedVersions(): Omit<Versions, 'go'> {
  const gomod = readFileSync(join(testenvDir, 'go.mod'), 'utf8');
  return {
    kubernetes: requiredVersion(gomod, 'k8s.io/kubernetes'),
    etcd: requiredVersion(gomod, 'go.etcd.io/etcd/server/v3'),
    kwok: requiredVersion(gomod, 'sigs.k8s.io/kwok'),
  };
}

function ldflags(kubernetes: string): string {
  const m = /^v(\d+)\.(\d+)\./.exec(kubernetes);
  if (!m) throw new PlaneError(`unexpected Kubernetes version ${kubernetes}`);
  return [
    '-s -w',
    `-X k8s.io/component-base/version.gitVersion=${kubernetes}`,
    `-X k8s.io/component-base/version.gitMajor=${m[1]}`,
    `-X k8s.io/component-base/version.gitMinor=${m[2]}`,
  ].join(' ');
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p));
    else if (entry.isFile()) out.push(p);
  }
  return out.sort();
}

export interface BuildPlan {
  key: string;
  binary: string;
  versions: Versions;
  ldflags: string;
}

export function buildPlan(): BuildPlan {
  const go = goVersion();
  const pinned = pinnedVersions();
  const flags = ldflags(pinned.kubernetes);
  const h = createHash('sha256');
  h.update(`${RECIPE}\n${go}\n${flags}\nCGO_ENABLED=0 -trimpath\n`);
  const inputs = [join(testenvDir, 'go.mod'), join(testenvDir, 'go.sum'), ...listFiles(join(testenvDir, 'cmd'))];
  for (const f of inputs) {
    h.update(`${relative(testenvDir, f)}\n`);
    h.update(readFileSync(f));
  }
  const key = `${pinned.kubernetes}-${h.digest('hex').slice(0, 16)}`;
  return {
    key,
    binary: join(cacheRoot(), 'plane', key, 'kkplane'),
    versions: { ...pinned, go: go.split(' ')[0] ?? go },
    ldflags: flags,
  };
}

function fmtElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * Returns the path of the kkplane binary, building it first when no binary for
 * the current inputs is cached. Prints progress while building.
 */
export async function ensureBinary(log: (line: string) => void = (l) => console.error(l)): Promise<BuildPlan> {
  const plan = buildPlan();
  if (existsSync(plan.binary)) return plan;
  const dir = join(cacheRoot(), 'plane', plan.key);
  mkdirSync(dir, { recursive: true });
  await withLock(join(dir, '.build.lock'), async () => {
    if (existsSync(plan.binary)) return; // built by someone else meanwhile
    await runBuild(plan, dir, log);
  }, (owner) => log(`local control plane: waiting for the build running in process ${owner}`));
  return plan;
}

async function runBuild(plan: BuildPlan, dir: string, log: (line: string) => void): Promise<void> {
  const tmp = join(dir, `kkplane.tmp-${process.pid}`);
  const logPath = join(dir, 'build.log');
  const logFile = createWriteStream(logPath);
  const started = Date.now();
  log(
    `local control plane: building kkplane (Kubernetes ${plan.versions.kubernetes}, etcd ${plan.versions.etcd}, ` +
      `kwok ${plan.versions.kwok}) with ${plan.versions.go}.`,
  );
  log('  A cold build (empty Go build cache, ~2,700 packages) takes 5–25 minutes: about 6 min on 2 cores with the');
  log('  Go modules already downloaded, more on a slower machine or when modules must be fetched. Later builds only relink.');
  log(`  Build log: ${logPath}`);
  const args = ['build', '-v', '-trimpath', '-ldflags', plan.ldflags, '-o', tmp, './cmd/kkplane'];
  const child = spawn('go', args, {
    cwd: testenvDir,
    env: { ...process.env, CGO_ENABLED: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let packages = 0;
  let lastPackage = '';
  const tail: string[] = [];
  const onData = (chunk: Buffer) => {
    logFile.write(chunk);
    for (const line of chunk.toString().split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 40) tail.shift();
      if (!line.startsWith('#') && !line.includes(' ')) {
        packages += 1;
        lastPackage = line;
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const ticker = setInterval(() => {
    log(`  … ${fmtElapsed(Date.now() - started)} elapsed, ${packages} packages compiled${lastPackage ? ` (last: ${lastPackage})` : ''}`);
  }, 15_000);
  const code: number = await new Promise((res, rej) => {
    child.on('error', rej);
    child.on('exit', (c) => res(c ?? 1));
  });
  clearInterval(ticker);
  await new Promise<void>((res) => logFile.end(res));
  if (code !== 0) {
    rmSync(tmp, { force: true });
    throw new PlaneError(
      `building kkplane failed (go build exit ${code}); full log: ${logPath}\n${tail.slice(-20).join('\n')}`,
    );
  }
  renameSync(tmp, plan.binary);
  const record = { seconds: Math.round((Date.now() - started) / 1000), packages, builtAt: new Date().toISOString(), versions: plan.versions };
  writeFileSync(join(dir, 'build.json'), `${JSON.stringify(record, null, 2)}\n`);
  const size = (statSync(plan.binary).size / 1024 / 1024).toFixed(0);
  log(`local control plane: built ${plan.binary} (${size} MiB) in ${fmtElapsed(Date.now() - started)}, ${packages} packages compiled`);
}
