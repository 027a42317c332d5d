// `npm run build`: the one build step. `npm start`, `npm run dev`, the image's
// build stage, the test suites and the benchmarks all run it.
//
// Two parts, each rebuilt only when stale:
//   server   esbuild bundles src/main.ts and everything it imports from src/
//            into one ES module, dist/main.mjs (packages left to node_modules),
//            and copies the SQL migrations to dist/migrations/. Production runs
//            this file, not the TypeScript sources: it starts faster and holds
//            less memory than compiling on load. The `kubekloud` CLI is
//            bundled from the same sources into dist/cli.mjs.
//   console  the web console (console/): type check, then vite's static build
//            into console/dist/, which the server serves at /console.
// A part is stale when its output is missing or the SHA-256 of its inputs (the
// files that make it, the lockfile, this script) differs from the stamp written
// after its last build (dist/.build/<part>.json). Content, not modification
// times: a checkout, a copy or a COPY into an image changes times, not code.
//
// `npm run build -- --force` rebuilds both. Prints what it built or skipped.
import { build as esbuild } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
export const SERVER_ENTRY = join(root, 'dist', 'main.mjs');
/** The `kubekloud` CLI, bundled like the server: bin/kubekloud.js runs it (src/cli/README.md). */
export const CLI_ENTRY = join(root, 'dist', 'cli.mjs');
/**
 * The V8 flags the server runs with, wherever it runs: `npm start`, the
 * image's CMD, the Deployment's command, the tests and the benchmarks
 * (test/deploy/manifests.test.ts and test/deploy/image.test.ts hold the
 * spelled-out copies to this list). A young generation of 16 MiB
 * semi-spaces (V8 sizes them up to 32 MiB for a heap this size): a request's
 * or a list page's objects die young rather than being copied into the old
 * generation, as they were with 8 MiB. The old generation grows by 20 % of
 * what survived its last collection (V8 chooses up to 4×), so a resync's
 * garbage is collected before it piles up. V8's memory saver mode, which held
 * the resident set lower still, is left out: it cost markedly more server CPU
 * per read and per instance converged (docs/OPERATIONS.md tells how to turn
 * it on; `BENCH_SERVER_FLAGS` runs the benchmarks with other flags).
 * `--expose-gc` lets the server ask V8, once quiet after a burst of work, for
 * the collection that gives its pooled pages back to the system
 * (src/observability/heapRelease.ts).
 */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=16', '--heap-growing-percent=20', '--expose-gc'] as const;
/**
 * The environment the server runs with beside its flags, wherever it runs (the
 * image's ENV, the Deployment's env, `npm start`, the tests and the
 * benchmarks; the same tests hold the copies to it). Two glibc malloc arenas
 * instead of up to eight per core: memory V8's background threads (its
 * collector, its compilers) and libuv's pool allocate and free is reused
 * across them rather than kept in an arena each. At 5,000 VMs the peaks were
 * 11–15 MiB lower (BENCHMARKS.md). Ignored where the C library is not glibc.
 */
export const SERVER_ENV = { MALLOC_ARENA_MAX: '2' } as const;
export const CONSOLE_DIST = join(root, 'console', 'dist');
const STAMPS = join(root, 'dist', '.build');

export type Part = 'server' | 'console';
export type PartResult = { part: Part; action: 'built' | 'skipped'; ms: number; reason: string };

type PartSpec = {
  /** Files and folders (relative to the repository) whose content makes the part. */
  inputs: string[];
  /** Files the part writes; one missing means stale whatever the stamp says. */
  outputs: string[];
  make(): Promise<void>;
};

const SHARED_INPUTS = ['package-lock.json', 'scripts/build.ts'];

const PARTS: Record<Part, PartSpec> = {
  server: {
    inputs: ['src', 'tsconfig.json', ...SHARED_INPUTS],
    outputs: [SERVER_ENTRY, CLI_ENTRY],
    async make() {
      // Only this part's own outputs are replaced (a dropped migration must not linger);
      // other bundles in dist/, such as the benchmark's ceiling, are left alone.
      const migrations = join(root, 'dist', 'migrations');
      rmSync(migrations, { recursive: true, force: true });
      mkdirSync(migrations, { recursive: true });
      await bundle(join(root, 'src', 'main.ts'), SERVER_ENTRY);
      // The CLI from the same sources: started in a tenth of the time the TypeScript sources take.
      await bundle(join(root, 'src', 'cli', 'main.ts'), CLI_ENTRY);
      cpSync(join(root, 'src', 'store', 'migrations'), migrations, { recursive: true });
    },
  },
  console: {
    // The console imports the API's types from the contract (type only).
    inputs: ['console/src', 'console/index.html', 'console/vite.config.ts', 'console/tsconfig.json', 'src/contract', ...SHARED_INPUTS],
    outputs: [join(CONSOLE_DIST, 'index.html')],
    async make() {
      // Processes of their own, on the Node running this build; vite in production
      // mode whatever NODE_ENV the caller (a test runner, say) has set.
      const bin = (p: string) => join(root, 'node_modules', p);
      const run = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
        execFileSync(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
      run([bin('typescript/bin/tsc'), '-p', join(root, 'console', 'tsconfig.json')]);
      run([bin('vite/bin/vite.js'), 'build', '--config', join(root, 'console', 'vite.config.ts')], { ...process.env, NODE_ENV: 'production' });
    },
  },
};

/** One entry point and what it imports from the repository as a single ES module; packages stay in node_modules. */
export async function bundle(entry: string, outfile: string): Promise<void> {
  await esbuild({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    packages: 'external',
    // Whitespace and comments dropped, and only ASCII kept (non-ASCII characters escaped):
    // V8 keeps a module's source text for as long as the module lives, and one
    // character outside Latin-1 anywhere (a comment's "’", say) makes it store
    // the whole text at two bytes a character. Names stay as they are, so a stack
    // trace still names its functions; the linked source map gives the lines.
    minifyWhitespace: true,
    charset: 'ascii',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
}

function files(rel: string): string[] {
  const abs = join(root, rel);
  if (!existsSync(abs)) return [];
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs)
    .sort()
    .flatMap((name) => files(join(rel, name)));
}

/** SHA-256 over the inputs' paths and contents, in a fixed order. */
export function inputsHash(part: Part): string {
  const h = createHash('sha256');
  for (const rel of PARTS[part].inputs.flatMap(files)) {
    h.update(rel.split(sep).join('/')).update('\0').update(readFileSync(join(root, rel))).update('\0');
  }
  return h.digest('hex');
}

const stampFile = (part: Part) => join(STAMPS, `${part}.json`);

function staleReason(part: Part, hash: string): string | null {
  const missing = PARTS[part].outputs.find((o) => !existsSync(o));
  if (missing) return `${relative(root, missing)} missing`;
  let stamp: { inputs?: string } = {};
  try {
    stamp = JSON.parse(readFileSync(stampFile(part), 'utf8')) as { inputs?: string };
  } catch {
    return 'no stamp of a previous build';
  }
  return stamp.inputs === hash ? null : 'sources changed since the last build';
}

export async function buildPart(part: Part, opts: { force?: boolean; log?: (line: string) => void } = {}): Promise<PartResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = performance.now();
  const hash = inputsHash(part);
  const reason = opts.force ? 'forced' : staleReason(part, hash);
  if (reason === null) {
    const result: PartResult = { part, action: 'skipped', ms: Math.round(performance.now() - started), reason: 'up to date' };
    log(`build: ${part} up to date, skipped`);
    return result;
  }
  rmSync(stampFile(part), { force: true });
  await PARTS[part].make();
  mkdirSync(STAMPS, { recursive: true });
  writeFileSync(stampFile(part), `${JSON.stringify({ inputs: hash, builtAt: new Date().toISOString() })}\n`);
  const ms = Math.round(performance.now() - started);
  log(`build: ${part} built (${reason}) in ${ms} ms`);
  return { part, action: 'built', ms, reason };
}

/** Builds whatever of the server and the console is stale; returns what it did. */
export async function build(opts: { force?: boolean; log?: (line: string) => void } = {}): Promise<PartResult[]> {
  return [await buildPart('server', opts), await buildPart('console', opts)];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--force');
  if (unknown.length > 0) {
    process.stderr.write(`usage: npm run build [-- --force]   (unknown: ${unknown.join(' ')})\n`);
    process.exit(2);
  }
  try {
    await build({ force: args.includes('--force') });
  } catch (err) {
    // tsc and vite have printed their errors already.
    process.stderr.write(`build failed: ${(err as Error).message.split('\n')[0]}\n`);
    process.exit(1);
  }
}
