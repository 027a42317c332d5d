// Profiles: named (url, token) pairs in the user's config directory, readable
// by the user only. KUBEKLOUD_URL / KUBEKLOUD_TOKEN override the current one.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** No usable profile: not a usage mistake, so it exits 1 like an API refusal. */
export class ConfigError extends Error {}

export type Profile = { url: string; token: string; username?: string };
export type Config = { current: string | null; profiles: Record<string, Profile> };

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'kubekloud', 'config.json');
}

export function readConfig(path = configPath()): Config {
  if (!existsSync(path)) return { current: null, profiles: {} };
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as Partial<Config>;
    return { current: c.current ?? null, profiles: c.profiles ?? {} };
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}

export function writeConfig(c: Config, path = configPath()): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  // Written aside and renamed, so a crash never leaves half a file; created 0600.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** The profile a command talks to: the named or current one, with the environment on top. */
export function resolveProfile(name: string | undefined, env: NodeJS.ProcessEnv = process.env): { profile: Profile | null; name: string | null; problem?: string } {
  const c = readConfig(configPath(env));
  const chosen = name ?? c.current;
  if (name && !c.profiles[name]) return { profile: null, name, problem: `no profile named '${name}' (see: kubekloud profiles)` };
  const base = chosen ? c.profiles[chosen] : undefined;
  const url = env.KUBEKLOUD_URL || base?.url;
  const token = env.KUBEKLOUD_TOKEN || base?.token;
  if (!url || !token) {
    return { profile: null, name: chosen, problem: 'not logged in: run `kubekloud login --url URL --token TOKEN` or set KUBEKLOUD_URL and KUBEKLOUD_TOKEN' };
  }
  return { profile: { url, token, username: base?.username }, name: chosen };
}
