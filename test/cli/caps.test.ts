// The CLI at a per-user cap: the 429's message and when to try again, exit 1.
// The server is the app on PGlite listening on a port (no Kubernetes needed).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../support/app.ts';
import { repoRoot } from '../support/kube.ts';

let t: TestApp;
let url: string;
let home: string;
beforeAll(async () => {
  t = await buildTestApp({ KUBEKLOUD_MAX_TOKENS_PER_USER: '2' });
  url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  home = mkdtempSync(join(tmpdir(), 'kubekloud-cli-caps-'));
});
afterAll(async () => {
  await t?.close();
  rmSync(home, { recursive: true, force: true });
});

function kk(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'kubekloud.js'), ...args], {
      cwd: home,
      env: { PATH: process.env.PATH ?? '', HOME: home, XDG_CONFIG_HOME: join(home, '.config') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('the CLI at the live-token cap', () => {
  it('shows the API message and when to try again (exit 1)', async () => {
    const a = await t.tenant();
    expect((await kk(['login', '--url', url, '--token', a.token])).code).toBe(0);
    expect((await kk(['tokens', 'create', 'ci'])).code).toBe(0);
    const refused = await kk(['tokens', 'create', 'one-more']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error: You have 2 live tokens, the most a user may hold (2, KUBEKLOUD_MAX_TOKENS_PER_USER); revoke one first');
    expect(refused.stderr).toMatch(/^error: try again in \d+ s$/m);
  });
});
