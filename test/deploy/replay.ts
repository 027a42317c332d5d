// The Dockerfile, replayed without a container engine: its instructions parsed
// as Docker parses them, the build context made as Docker makes it (the files
// git tracks, filtered by .dockerignore with Docker's own matching rules), and
// every COPY and RUN of every stage executed in order in a scratch folder that
// stands for the stage's root filesystem. What this does not cover is listed
// in docs/DEPLOYMENT.md ("The image, replayed"); every step it cannot map
// faithfully either fails or is reported as skipped, never silently dropped.
import dockerignoreModule from '@balena/dockerignore';
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';

// A CommonJS module whose factory is also its own `default`.
const dockerignore = dockerignoreModule.default;

export type Instruction = { op: string; args: string; line: number };
export type Stage = { index: number; from: string; name?: string; instructions: Instruction[] };
export type Dockerfile = { args: Record<string, string>; stages: Stage[] };

const SUPPORTED = new Set(['ARG', 'FROM', 'WORKDIR', 'ENV', 'COPY', 'RUN', 'USER', 'CMD', 'EXPOSE', 'HEALTHCHECK', 'LABEL']);

/** Parses a Dockerfile: comment lines dropped, continuation lines joined, one instruction per logical line. */
export function parseDockerfile(text: string): Dockerfile {
  const physical = text.split(/\r?\n/).map((l, i) => ({ text: l, line: i + 1 }));
  const logical: { text: string; line: number }[] = [];
  let current: { text: string; line: number } | null = null;
  for (const l of physical) {
    // Docker removes comment lines before it joins continuations, also inside one.
    if (/^\s*#/.test(l.text)) continue;
    if (current === null) {
      if (!l.text.trim()) continue;
      current = { text: '', line: l.line };
    }
    if (/\\\s*$/.test(l.text)) current.text += l.text.replace(/\\\s*$/, ' ');
    else {
      current.text += l.text;
      logical.push({ text: current.text.trim(), line: current.line });
      current = null;
    }
  }
  if (current) throw new Error(`Dockerfile line ${current.line}: continuation at the end of the file`);
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const { text: t, line } of logical) {
    const m = /^(\w+)\s+(.*)$/s.exec(t);
    if (!m) throw new Error(`Dockerfile line ${line}: cannot parse: ${t}`);
    const op = m[1]!.toUpperCase();
    const rest = m[2]!.trim();
    if (!SUPPORTED.has(op)) throw new Error(`Dockerfile line ${line}: the replay does not model ${op}; extend test/deploy/replay.ts`);
    if (op === 'FROM') {
      const fm = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!fm) throw new Error(`Dockerfile line ${line}: cannot parse FROM ${rest}`);
      stages.push({ index: stages.length, from: fm[1]!, name: fm[2]?.toLowerCase(), instructions: [] });
    } else if (stages.length === 0) {
      if (op !== 'ARG') throw new Error(`Dockerfile line ${line}: ${op} before the first FROM`);
      const [k, ...v] = rest.split('=');
      args[k!] = v.join('=');
    } else {
      stages.at(-1)!.instructions.push({ op, args: rest, line });
    }
  }
  return { args, stages };
}

/** $VAR and ${VAR} as Docker substitutes them in FROM, WORKDIR, ENV and COPY. */
export function substitute(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => vars[(a ?? b)!] ?? '');
}

/** `ENV A=1 B="two words"` or the legacy `ENV A value`. */
export function parseEnv(args: string, vars: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  if (!/^\w+=/.test(args)) {
    const [k, ...v] = args.split(/\s+/);
    out[k!] = substitute(v.join(' '), vars);
    return out;
  }
  for (const m of args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g)) {
    let v = m[2]!;
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    else if (v.startsWith("'")) v = v.slice(1, -1);
    out[m[1]!] = substitute(v, { ...vars, ...out });
  }
  return out;
}

/** Exec form (a JSON array) or shell form (run by /bin/sh -c). */
export function commandOf(args: string): string[] {
  if (args.trimStart().startsWith('[')) return JSON.parse(args) as string[];
  return ['/bin/sh', '-c', args];
}

/**
 * The build context `docker build .` sends from this checkout: its files as
 * they are in the working tree, less what .dockerignore excludes, judged by
 * @balena/dockerignore, a port of Docker's own matcher (moby's fileutils: `**`,
 * `!` re-includes, a pattern matching a parent folder), case-sensitive as
 * Docker is on Linux. "Its files" are those git tracks plus new files git
 * would track (`git ls-files --cached --others --exclude-standard`): not the
 * git-ignored dependencies, build outputs and local state, which a fresh
 * clone does not have either. A tracked file and a new one it imports are
 * taken together, as Docker would take them.
 */
export function buildContext(repo: string): { files: string[]; ignored: string[] } {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repo, encoding: 'utf8' });
  const tracked = [...new Set(listed.split('\0').filter(Boolean))];
  const present = tracked.filter((f) => existsSync(join(repo, f)) && statSync(join(repo, f)).isFile());
  const ignorePath = join(repo, '.dockerignore');
  const matcher = dockerignore({ ignorecase: false }).add(existsSync(ignorePath) ? readFileSync(ignorePath, 'utf8') : '');
  const files = matcher.filter(present);
  const kept = new Set(files);
  return { files, ignored: present.filter((f) => !kept.has(f)) };
}

export type ReplayLog = { stage: string; step: string; outcome: 'done' | 'skipped' | 'not replayed'; note?: string; ms?: number };

export type ReplayResult = {
  /** The scratch folder standing for each stage's root filesystem, by stage name (or index). */
  roots: Record<string, string>;
  final: { root: string; workdir: string; env: Record<string, string>; cmd: string[]; healthcheck?: string[]; user?: string };
  log: ReplayLog[];
  context: string[];
};

export type ReplayOptions = {
  repo: string;
  /** Where the scratch folders go; removed by the caller. */
  scratch: string;
  /** The base image's `node` and `npm`: the release the Dockerfile names, installed on this machine. */
  node: string;
  npmCli: string;
  /** Environment passed through to RUN (proxies, say); the image's own ENV is applied on top. */
  passEnv?: Record<string, string>;
  progress?: (line: string) => void;
};

const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * A RUN that only deletes files of the base image (absolute paths outside the
 * stage's WORKDIR and outside anything the replay put into the stage): its
 * effect is on the base image's contents, which the replay does not have.
 */
export function baseImageOnly(cmd: string, workdir: string, written: string[]): string | null {
  const m = /^rm\s+(-[rRf]+\s+)*(.+)$/s.exec(cmd.trim());
  if (!m) return null;
  const paths = m[2]!.trim().split(/\s+/);
  if (!paths.every((p) => p.startsWith('/'))) return null;
  const touches = (p: string, w: string) => w === p || w.startsWith(`${p.replace(/\*.*$/, '')}`) || p.startsWith(`${w}/`);
  if (paths.some((p) => touches(p, workdir) || written.some((w) => touches(p, w)))) return null;
  return `removes ${paths.length} path(s) of the base image only (${[...new Set(paths.map((p) => p.split('/').slice(0, 3).join('/')))].join(', ')}), not the stage's files: the replay has no base image filesystem`;
}

function run(cmd: string[], opts: { cwd: string; env: Record<string, string> }): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd[0]!, cmd.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: Buffer) => (out = (out + d.toString()).slice(-40_000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

export async function replayDockerfile(dockerfile: Dockerfile, opts: ReplayOptions): Promise<ReplayResult> {
  const progress = opts.progress ?? (() => {});
  const log: ReplayLog[] = [];
  const note = (entry: ReplayLog) => {
    log.push(entry);
    progress(`[${entry.stage}] ${entry.outcome === 'done' ? '' : `${entry.outcome.toUpperCase()}: `}${entry.step}${entry.ms !== undefined ? ` (${(entry.ms / 1000).toFixed(1)} s)` : ''}${entry.note ? ` — ${entry.note}` : ''}`);
  };

  // The build context, materialized: COPY without --from reads only from here.
  const context = join(opts.scratch, 'context');
  const { files } = buildContext(opts.repo);
  for (const f of files) {
    mkdirSync(dirname(join(context, f)), { recursive: true });
    cpSync(join(opts.repo, f), join(context, f));
  }
  mkdirSync(context, { recursive: true });
  progress(`build context: ${files.length} files (git ls-files --cached --others --exclude-standard, filtered by .dockerignore)`);

  const roots: Record<string, string> = {};
  const stageEnv = new Map<number, Record<string, string>>();
  let final: ReplayResult['final'] | undefined;
  for (const stage of dockerfile.stages) {
    const label = stage.name ?? String(stage.index);
    const root = join(opts.scratch, 'stages', `${stage.index}-${label}`);
    const vars: Record<string, string> = { ...dockerfile.args };
    const from = substitute(stage.from, vars);
    const parent = dockerfile.stages.find((s) => s.name === from.toLowerCase() && s.index < stage.index);
    let env: Record<string, string>;
    if (parent) {
      cpSync(roots[parent.name!]!, root, { recursive: true, verbatimSymlinks: true });
      env = { ...stageEnv.get(parent.index)! };
    } else {
      // The base image, as far as the replay has one: its node and npm on its
      // PATH (/usr/local/bin), root's HOME, and the official node image's ENV.
      const bin = join(root, 'usr', 'local', 'bin');
      mkdirSync(bin, { recursive: true });
      mkdirSync(join(root, 'root'), { recursive: true });
      symlinkSync(opts.node, join(bin, 'node'));
      symlinkSync(opts.npmCli, join(bin, 'npm'));
      const m = /^node:(\d+\.\d+\.\d+)/.exec(from);
      if (!m) throw new Error(`[${label}] FROM ${from}: the replay knows only the official node images`);
      env = { PATH: IMAGE_PATH, NODE_VERSION: m[1]! };
      note({ stage: label, step: `FROM ${from}`, outcome: 'done', note: `base image stood in for by Node ${m[1]} at /usr/local/bin` });
    }
    roots[label] = root;
    let workdir = '/';
    let user: string | undefined;
    let cmd: string[] | undefined;
    let healthcheck: string[] | undefined;
    const written: string[] = [];
    const inRoot = (p: string) => join(root, p);
    for (const ins of stage.instructions) {
      const flat = ins.args.replace(/\s+/g, ' ');
      const step = `${ins.op} ${flat.length > 110 ? `${flat.slice(0, 107)}...` : flat}`;
      switch (ins.op) {
        case 'ARG': {
          const [k, ...v] = ins.args.split('=');
          vars[k!] = v.length ? substitute(v.join('='), vars) : (dockerfile.args[k!] ?? '');
          break;
        }
        case 'WORKDIR': {
          workdir = posix.resolve(workdir, substitute(ins.args, { ...vars, ...env }));
          mkdirSync(inRoot(workdir), { recursive: true });
          note({ stage: label, step, outcome: 'done' });
          break;
        }
        case 'ENV':
          Object.assign(env, parseEnv(ins.args, { ...vars, ...env }));
          note({ stage: label, step, outcome: 'done' });
          break;
        case 'COPY': {
          const words = ins.args.trimStart().startsWith('[')
            ? (JSON.parse(ins.args) as string[])
            : substitute(ins.args, { ...vars, ...env }).split(/\s+/);
          let source = context;
          let fromName: string | undefined;
          while (words[0]?.startsWith('--')) {
            const flag = words.shift()!;
            const fm = /^--from=(\S+)$/.exec(flag);
            if (!fm) throw new Error(`[${label}] ${step}: the replay does not model ${flag}`);
            fromName = fm[1]!.toLowerCase();
            const src = dockerfile.stages.find((s) => (s.name ?? String(s.index)) === fromName && s.index < stage.index);
            if (!src) throw new Error(`[${label}] ${step}: no earlier stage ${fromName}`);
            source = roots[src.name ?? String(src.index)]!;
          }
          const dest = words.pop()!;
          if (words.length === 0) throw new Error(`[${label}] ${step}: no source`);
          if (words.length > 1 && !dest.endsWith('/')) throw new Error(`[${label}] ${step}: When using COPY with more than one source file, the destination must be a directory and end with a /`);
          const destAbs = posix.resolve(workdir, dest);
          let count = 0;
          for (const src of words) {
            if (/[*?[]/.test(src)) throw new Error(`[${label}] ${step}: the replay does not model wildcards in COPY sources`);
            // From the context, paths are relative to it; from a stage, to its root.
            const from = join(source, posix.normalize(`/${src}`));
            if (!existsSync(from)) {
              throw new Error(
                fromName
                  ? `[${label}] ${step}: "${src}" not found in stage ${fromName}`
                  : `[${label}] ${step}: failed to compute cache key: "/${posix.normalize(src).replace(/^\/+/, '')}": not found (not in the build context: not tracked by git, or excluded by .dockerignore)`,
              );
            }
            const isDir = statSync(from).isDirectory();
            // A folder's contents go into the destination; a file into it when it ends with / (or is a folder).
            const target = isDir ? inRoot(destAbs) : dest.endsWith('/') || (existsSync(inRoot(destAbs)) && statSync(inRoot(destAbs)).isDirectory()) ? join(inRoot(destAbs), basename(from)) : inRoot(destAbs);
            mkdirSync(isDir ? target : dirname(target), { recursive: true });
            cpSync(from, target, { recursive: true, verbatimSymlinks: true });
            count += countFiles(from);
          }
          written.push(destAbs);
          note({ stage: label, step, outcome: 'done', note: `${count} file(s)` });
          break;
        }
        case 'RUN': {
          const command = commandOf(ins.args);
          const shell = command[0] === '/bin/sh' ? command[2]! : command.join(' ');
          const skip = baseImageOnly(shell, workdir, written);
          if (skip) {
            note({ stage: label, step, outcome: 'skipped', note: skip });
            break;
          }
          // Absolute paths are the image's, which the replay maps only for WORKDIR.
          const absolute = [...shell.matchAll(/(?:^|[\s=:'"])(\/[\w.-][^\s'"]*)/g)].map((m) => m[1]!);
          if (absolute.length) throw new Error(`[${label}] ${step}: refers to ${absolute.join(', ')}, outside what the replay maps; extend test/deploy/replay.ts`);
          const runEnv: Record<string, string> = {
            HOME: inRoot('/root'),
            ...(opts.passEnv ?? {}),
            ...env,
            // The image's PATH, with its /usr/local/bin (node, npm) being the stage's own.
            PATH: (env.PATH ?? IMAGE_PATH)
              .split(':')
              .map((p) => (p.startsWith('/usr/local') ? inRoot(p) : p))
              .join(':'),
          };
          const started = performance.now();
          const res = await run(command, { cwd: inRoot(workdir), env: runEnv });
          const ms = performance.now() - started;
          if (res.code !== 0) {
            throw new Error(`[${label}] ${step}: did not complete successfully: exit code ${res.code}\n${res.out.slice(-6000)}`);
          }
          note({ stage: label, step, outcome: 'done', ms });
          break;
        }
        case 'USER':
          user = ins.args;
          note({ stage: label, step, outcome: 'not replayed', note: 'files stay owned by the user running the tests; the API runs as that user' });
          break;
        case 'CMD':
          cmd = commandOf(ins.args);
          note({ stage: label, step, outcome: 'done', note: 'run below, from this stage alone' });
          break;
        case 'HEALTHCHECK': {
          const hm = /^(?:--\S+\s+)*CMD\s+(.+)$/s.exec(ins.args);
          healthcheck = hm ? commandOf(hm[1]!) : undefined;
          note({ stage: label, step, outcome: 'done', note: 'its command runs once against the started API; its schedule (interval, timeout, retries) is the engine\'s and is not replayed' });
          break;
        }
        case 'EXPOSE':
        case 'LABEL':
          note({ stage: label, step, outcome: 'not replayed', note: 'image metadata' });
          break;
      }
    }
    stageEnv.set(stage.index, env);
    if (stage === dockerfile.stages.at(-1)) {
      if (!cmd) throw new Error(`[${label}] the final stage has no CMD`);
      final = { root, workdir, env, cmd, healthcheck, user };
    }
  }
  return { roots, final: final!, log, context: files };
}

function countFiles(path: string): number {
  const st = lstatSync(path);
  return st.isDirectory() ? readdirSync(path).reduce((n, name) => n + countFiles(join(path, name)), 0) : 1;
}

/** The npm the machine has (npm puts its own CLI in npm_execpath for the scripts it runs). */
export function npmCliPath(): string {
  if (process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath)) return realpathSync(process.env.npm_execpath);
  const which = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
  return realpathSync(which);
}

export function removeScratch(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
