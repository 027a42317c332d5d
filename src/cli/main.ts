// kubekloud: the command-line client of the v1 API.
// Exit codes: 0 ok, 1 the API refused (or could not be reached, or a wait
// failed), 2 the command line was wrong.
import { parseArgs } from 'node:util';
import { ApiError, KubeKloudClient, NetworkError } from './client.ts';
import { COMMANDS, GLOBAL_OPTIONS, GROUPS, UsageError, type Command, type Ctx, type OptionSpec } from './commands.ts';
import { completion } from './completion.ts';
import { ConfigError, resolveProfile } from './config.ts';
import { FORMATS, type Format } from './output.ts';
import pkg from '../../package.json' with { type: 'json' };

const EXIT_OK = 0;
const EXIT_API = 1;
const EXIT_USAGE = 2;

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => [`${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`, o.description]);
  const w = Math.max(...rows.map(([l]) => l!.length));
  return rows.map(([l, d]) => `  ${l!.padEnd(w)}  ${d}`);
}

export function commandHelp(c: Command): string {
  return [
    `Usage: kubekloud ${c.words.join(' ')}${c.args ? ` ${c.args}` : ''}${c.options ? ' [options]' : ''}`,
    '',
    c.summary + '.',
    ...(c.description ? ['', c.description] : []),
    ...(c.options ? ['', 'Options:', ...optionLines(c.options)] : []),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Examples:',
    ...c.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

function groupHelp(group: string): string {
  const cmds = COMMANDS.filter((c) => c.words[0] === group && c.words.length > 1);
  const w = Math.max(...cmds.map((c) => c.words[1]!.length));
  return [
    `Usage: kubekloud ${group} <command> [options]`,
    '',
    `${GROUPS[group]}.`,
    '',
    'Commands:',
    ...cmds.map((c) => `  ${c.words[1]!.padEnd(w)}  ${c.summary}`),
    '',
    `Run 'kubekloud ${group} <command> --help' for its options and examples.`,
    '',
  ].join('\n');
}

export function mainHelp(): string {
  const top = COMMANDS.filter((c) => c.words.length === 1 && !GROUPS[c.words[0]!]).map((c) => [c.words[0]!, c.summary] as const);
  const rows = [...top, ...Object.entries(GROUPS), ['completion', 'Print a shell completion script (bash or zsh)'] as const];
  const w = Math.max(...rows.map(([n]) => n.length));
  return [
    'kubekloud: the command-line client of the KubeKloud API',
    '',
    'Usage: kubekloud <command> [subcommand] [arguments] [options]',
    '',
    'Commands:',
    ...rows.map(([n, s]) => `  ${n.padEnd(w)}  ${s}`),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'Environment: KUBEKLOUD_URL and KUBEKLOUD_TOKEN override the current profile.',
    'Exit codes: 0 ok, 1 the API refused or could not be reached (or --wait failed), 2 usage error.',
    '',
    'Examples:',
    '  kubekloud login --url http://127.0.0.1:8000 --token "$TOKEN"',
    '  kubekloud clusters create web --type container --cpu 0.5 --memory 1 --count 3 --wait',
    '  kubekloud clusters list -o json',
    '  kubekloud instances stop 4 --wait',
    '  source <(kubekloud completion bash)',
    '',
    "Run 'kubekloud <command> --help' for more.",
    '',
  ].join('\n');
}

const completionCommand: Command = {
  words: ['completion'],
  args: 'bash|zsh',
  summary: 'Print a shell completion script',
  examples: ['source <(kubekloud completion bash)', 'kubekloud completion zsh > "${fpath[1]}/_kubekloud"'],
  async run(ctx) {
    const shell = ctx.args[0];
    if (ctx.args.length !== 1 || (shell !== 'bash' && shell !== 'zsh')) throw new UsageError('completion takes one argument: bash or zsh');
    ctx.out(completion(shell, COMMANDS, GLOBAL_OPTIONS));
  },
};

/** Global options that take a value, so the value is not taken for a command word. */
const VALUED = new Set(Object.entries(GLOBAL_OPTIONS).flatMap(([k, o]) => (o.type === 'string' ? [`--${k}`, ...(o.short ? [`-${o.short}`] : [])] : [])));

/** Indices of the leading words (at most two), skipping global options and their values. */
function wordIndices(argv: string[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < argv.length && out.length < 2; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (VALUED.has(a)) i++;
      else if (out.length > 0) break;
      continue;
    }
    out.push(i);
  }
  return out;
}

/** The longest run of leading words naming a command. */
function findCommand(argv: string[]): { command?: Command; rest: string[]; group?: string } {
  const all = [...COMMANDS, completionCommand];
  const idx = wordIndices(argv);
  const words = idx.map((i) => argv[i]!);
  const drop = (n: number) => argv.filter((_, i) => !idx.slice(0, n).includes(i));
  for (let n = words.length; n > 0; n--) {
    const c = all.find((x) => x.words.length === n && x.words.every((w, i) => w === words[i]));
    if (c) return { command: c, rest: drop(n) };
  }
  if (words[0] && GROUPS[words[0]]) return { group: words[0], rest: drop(1) };
  return { rest: argv };
}

export async function main(argv: string[], io = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) }): Promise<number> {
  const { command, rest, group } = findCommand(argv);
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  if (!command) {
    if (group) {
      if (wantsHelp && rest.filter((a) => !a.startsWith('-')).length === 0) return io.out(groupHelp(group)), EXIT_OK;
      const sub = rest.find((a) => !a.startsWith('-'));
      io.err(`${sub ? `error: unknown command '${group} ${sub}'\n\n` : ''}${groupHelp(group)}`);
      return EXIT_USAGE;
    }
    if (argv.length === 0 || (wantsHelp && argv.every((a) => a.startsWith('-')))) {
      if (argv.length === 0) return io.err(mainHelp()), EXIT_USAGE;
      return io.out(mainHelp()), EXIT_OK;
    }
    if (argv.includes('--version') || argv.includes('-v')) return io.out(`kubekloud ${pkg.version}\n`), EXIT_OK;
    io.err(`error: unknown command '${argv.find((a) => !a.startsWith('-')) ?? argv[0]}'\nRun 'kubekloud --help' for the list of commands.\n`);
    return EXIT_USAGE;
  }
  if (wantsHelp) return io.out(command.words.length === 1 && GROUPS[command.words[0]!] ? groupHelp(command.words[0]!) : commandHelp(command)), EXIT_OK;

  const usage = (msg: string) => {
    io.err(`error: ${msg}\nRun 'kubekloud ${command.words.join(' ')} --help' for usage and examples.\n`);
    return EXIT_USAGE;
  };
  let parsed;
  try {
    const options = Object.fromEntries(
      Object.entries({ ...GLOBAL_OPTIONS, ...command.options }).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
    );
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (e) {
    return usage((e as Error).message.replace(/\. To specify a positional argument starting with a '-'.*$/s, ''));
  }
  const format = (parsed.values.output as string | undefined) ?? 'table';
  if (!FORMATS.includes(format as Format)) return usage(`-o must be one of ${FORMATS.join(', ')}, not '${format}'`);

  let client: KubeKloudClient | undefined;
  const ctx: Ctx = {
    args: parsed.positionals,
    values: parsed.values as Ctx['values'],
    format: format as Format,
    out: io.out,
    err: io.err,
    client: () => {
      if (client) return client;
      const r = resolveProfile(parsed.values.profile as string | undefined);
      if (!r.profile) throw new ConfigError(r.problem ?? 'not logged in');
      return (client = new KubeKloudClient(r.profile.url, r.profile.token));
    },
  };
  try {
    return (await command.run(ctx)) ?? EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    if (e instanceof ApiError) {
      for (const line of e.lines()) io.err(`error: ${line}\n`);
      return EXIT_API;
    }
    if (e instanceof NetworkError || e instanceof ConfigError) {
      io.err(`error: ${e.message}\n`);
      return EXIT_API;
    }
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EACCES') {
      io.err(`error: ${(e as Error).message}\n`);
      return EXIT_API;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));
