// The kubekloud binary, run as a user runs it (`node bin/kubekloud.js …`),
// against the server as a real process on PostgreSQL and the real control
// plane. Each test has a HOME and XDG_CONFIG_HOME of its own.
import { execFile, spawn } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApiClient } from '../support/api.ts';
import { repoRoot } from '../support/kube.ts';
import { createTenant, freePort, startServer, type ServerProcess } from '../support/server.ts';

let server: ServerProcess;
let home: string;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'kubekloud-cli-'));
});
afterEach(() => {
  rmSync(home, { recursive: true, force: true });
});

type Run = { code: number; stdout: string; stderr: string };

/** Run the CLI binary with a clean environment (plus `env`). */
function kk(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'kubekloud.js'), ...args], {
      cwd: home,
      env: { PATH: process.env.PATH ?? '', HOME: home, XDG_CONFIG_HOME: join(home, '.config'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
const ok = (r: Run) => {
  if (r.code !== 0) throw new Error(`exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
};
const json = (r: Run) => JSON.parse(ok(r).stdout);
const loginAs = async (token: string) => ok(await kk(['login', '--url', server.url, '--token', token]));

describe('help, usage and completion', () => {
  it('--help on every command shows usage and examples (exit 0)', async () => {
    const top = ok(await kk(['--help']));
    expect(top.stdout).toMatch(/Usage: kubekloud/);
    const commands = [
      'login', 'profiles', 'profiles use', 'whoami', 'quota',
      'users create', 'users list', 'users update', 'users delete',
      'tokens create', 'tokens list', 'tokens revoke',
      'images list', 'images get', 'images create', 'images update', 'images retire',
      'clusters create', 'clusters list', 'clusters get', 'clusters scale', 'clusters update', 'clusters suspend', 'clusters resume', 'clusters delete',
      'instances get', 'instances start', 'instances stop', 'instances suspend', 'instances resume', 'instances restart',
      'snapshots list', 'snapshots create', 'snapshots get', 'snapshots delete', 'snapshots restore',
      'disks list', 'disks delete',
      'clusters isolation', 'isolation',
      'completion',
    ];
    const runs = await Promise.all(commands.map((c) => kk([...c.split(' '), '--help'])));
    runs.forEach((r, i) => {
      expect(r.code, commands[i]).toBe(0);
      if (commands[i] === 'profiles') expect(r.stdout).toMatch(/use/);
      else {
        expect(r.stdout, commands[i]).toContain(`Usage: kubekloud ${commands[i]}`);
        expect(r.stdout, commands[i]).toMatch(/Examples:\n  kubekloud|Examples:\n  source/);
      }
    });
    expect(ok(await kk(['clusters', '--help'])).stdout).toMatch(/scale/);
  }, 120_000);

  it('usage errors exit 2 with a reason and touch no server', async () => {
    const cases: [string[], RegExp][] = [
      [['clusters', 'list', '--bogus'], /Unknown option '--bogus'/],
      [['clusters', 'frob'], /unknown command 'clusters frob'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['instances', 'get', 'abc'], /numeric id/],
      [['clusters', 'create', 'web', '--cpu', '1', '--memory', '1'], /--type is required/],
      [['clusters', 'list', '-o', 'xml'], /-o must be one of table, json, yaml/],
      [['completion', 'fish'], /bash or zsh/],
      [[], /Usage: kubekloud/],
    ];
    for (const [args, message] of cases) {
      const r = await kk(args, { KUBEKLOUD_URL: server.url, KUBEKLOUD_TOKEN: 'unused-token-0123456789' });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  }, 60_000);

  it('prints bash and zsh completion scripts; the bash one parses and completes', async () => {
    const bash = ok(await kk(['completion', 'bash'])).stdout;
    expect(ok(await kk(['completion', 'zsh'])).stdout).toMatch(/compdef _kubekloud kubekloud/);
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'bash',
        ['-c', `${bash}\nCOMP_WORDS=(kubekloud clusters ""); COMP_CWORD=2; _kubekloud; echo "\${COMPREPLY[*]}"`],
        (e, stdout) => (e ? reject(e) : resolve(stdout)),
      ),
    );
    expect(out.trim().split(' ').sort()).toEqual(['create', 'delete', 'expire', 'get', 'isolation', 'list', 'resume', 'scale', 'suspend', 'update']);
  });
});

describe('login and profiles', () => {
  it('login checks the token, stores a 0600 profile in a 0700 directory; profiles lists and switches', async () => {
    const { client, user } = await createTenant(server.admin, { cpu: 1, memory: 1 });
    const out = await loginAs(client.token!);
    expect(out.stdout).toContain(`as ${user.username} (user)`);
    const dir = join(home, '.config', 'kubekloud');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(cfg.current).toBe('default');
    expect(cfg.profiles.default).toMatchObject({ url: server.url, token: client.token, username: user.username });

    // Without XDG_CONFIG_HOME the profile lives in ~/.config.
    const bare = await new Promise<Run>((resolve) => {
      const c = spawn(process.execPath, [join(repoRoot, 'bin', 'kubekloud.js'), 'login', '--url', server.url, '--token', server.admin.token!, '--name', 'admin'], {
        env: { PATH: process.env.PATH ?? '', HOME: home },
      });
      let stdout = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr: '' }));
    });
    expect(ok(bare).stdout).toContain('as admin (admin)');

    ok(await kk(['login', '--url', server.url, '--token', server.admin.token!, '--name', 'admin']));
    const profiles = json(await kk(['profiles', '-o', 'json']));
    expect(profiles.map((p: { name: string; current: boolean }) => [p.name, p.current]).sort()).toEqual([['admin', true], ['default', false]]);
    expect(json(await kk(['whoami', '-o', 'json'])).username).toBe('admin');
    ok(await kk(['profiles', 'use', 'default']));
    expect(json(await kk(['whoami', '-o', 'json'])).username).toBe(user.username);
    expect(json(await kk(['--profile', 'admin', 'whoami', '-o', 'json'])).username).toBe('admin');
    // The environment overrides the stored profile.
    expect(json(await kk(['whoami', '-o', 'json'], { KUBEKLOUD_TOKEN: server.admin.token! })).username).toBe('admin');
    const unknown = await kk(['profiles', 'use', 'nope']);
    expect(unknown.code).toBe(2);
  });

  it('a bad token is refused at login with the API detail (exit 1) and nothing is stored', async () => {
    const r = await kk(['login', '--url', server.url, '--token', 'not-a-real-token-0123456789']);
    expect(r.code).toBe(1);
    const detail = (await server.admin.withToken('not-a-real-token-0123456789').get('/api/v1/users/me')).body.detail;
    expect(r.stderr).toBe(`error: ${detail}\n`);
    expect(() => statSync(join(home, '.config', 'kubekloud', 'config.json'))).toThrow();
    const notLoggedIn = await kk(['quota']);
    expect(notLoggedIn.code).toBe(1);
    expect(notLoggedIn.stderr).toMatch(/not logged in/);
  });
});

describe('users (admin) and tokens', () => {
  it('an admin command as a user exits 1 with the API detail', async () => {
    const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
    await loginAs(client.token!);
    const r = await kk(['users', 'list']);
    expect(r.code).toBe(1);
    const detail = (await client.get('/api/v1/users')).body.detail;
    expect(typeof detail).toBe('string');
    expect(r.stderr).toBe(`error: ${detail}\n`);
  });

  it('users create, list, update, delete; validation errors list each field', async () => {
    await loginAs(server.admin.token!);
    const name = `cli-${Math.random().toString(36).slice(2, 8)}`;
    const created = json(await kk(['users', 'create', name, '--cpu', '2', '--memory', '4', '--instances', '5', '--storage', '50', '--load-balancers', '1', '-o', 'json']));
    expect(created).toMatchObject({ username: name, quota_cpu: 2, quota_memory: 4, quota_instances: 5, quota_storage_gb: 50, quota_load_balancers: 1, role: 'user' });
    expect(created.token).toMatch(/.{16,}/);
    const table = ok(await kk(['users', 'list'])).stdout;
    expect(table).toMatch(new RegExp(`^${created.id}\\s+${name}\\s+user\\s+active\\s+0/2\\s+0/4\\s+0/5\\s+0/50\\s+0/1`, 'm'));
    expect(json(await kk(['users', 'update', String(created.id), '--cpu', '3', '-o', 'json'])).quota_cpu).toBe(3);
    expect(json(await kk(['users', 'update', String(created.id), '--storage', '60', '--load-balancers', '2', '-o', 'json']))).toMatchObject({ quota_storage_gb: 60, quota_load_balancers: 2 });
    const bad = await kk(['users', 'create', 'Bad Name!', '--cpu', '0', '--memory', '1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: body\.username: /m);
    expect(bad.stderr).toMatch(/^error: body\.quota_cpu: /m);
    const del = ok(await kk(['users', 'delete', String(created.id)]));
    expect(del.stdout).toMatch(/deleted/i);
    expect((await server.admin.get('/api/v1/users?limit=500')).body.some((u: { id: number }) => u.id === created.id)).toBe(false);
  });

  it('images create, list, get, update, retire (admin); users list and get them, and are refused the rest', async () => {
    await loginAs(server.admin.token!);
    const name = `img-${Math.random().toString(36).slice(2, 8)}`;
    const created = json(await kk(['images', 'create', name, '--kind', 'vm', '--source', 'docker://quay.io/containerdisks/fedora:40', '--disk', '10', '--min-cpu', '1', '--min-memory', '1.5', '--os', 'linux', '-o', 'json']));
    expect(created).toMatchObject({ name, kind: 'vm', source: 'docker://quay.io/containerdisks/fedora:40', default_disk_gb: 10, min_cpu: 1, min_memory: 1.5, os: 'linux', retired: false });
    const bad = await kk(['images', 'create', `${name}-x`, '--kind', 'vm', '--source', 'ftp://example.com/disk.img']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: body\.source: scheme ftp is not allowed/m);
    expect((await kk(['images', 'create', 'x', '--kind', 'lambda', '--source', 'y'])).code).toBe(2);
    expect(json(await kk(['images', 'update', name, '--min-cpu', '2', '-o', 'json'])).min_cpu).toBe(2);
    const retired = json(await kk(['images', 'retire', name, '-o', 'json']));
    expect(retired.retired).toBe(true);
    expect(ok(await kk(['images', 'list'])).stdout).not.toContain(name);
    expect(ok(await kk(['images', 'list', '--all'])).stdout).toMatch(new RegExp(`^${name}\\s+vm\\s+docker://quay\\.io/containerdisks/fedora:40\\s+linux\\s+10 GB\\s+2\\s+1\\.5 GB`, 'm'));
    expect(json(await kk(['images', 'update', name, '--unretire', '-o', 'json'])).retired).toBe(false);

    const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
    await loginAs(client.token!);
    expect(json(await kk(['images', 'get', name, '-o', 'json'])).name).toBe(name);
    const refused = await kk(['images', 'retire', name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('error: This action needs the admin role\n');
  });

  it('tokens create, list, revoke; a revoked token no longer works', async () => {
    const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
    await loginAs(client.token!);
    const t = json(await kk(['tokens', 'create', 'ci', '--expires-in-days', '30', '-o', 'json']));
    expect(t).toMatchObject({ name: 'ci' });
    expect(t.expires_at).toBeTruthy();
    const listed = json(await kk(['tokens', 'list', '-o', 'json']));
    expect(listed.map((x: { name: string }) => x.name)).toContain('ci');
    expect(listed.every((x: Record<string, unknown>) => !('token' in x))).toBe(true);
    expect(json(await kk(['whoami', '-o', 'json'], { KUBEKLOUD_TOKEN: t.token })).id).toBe(json(await kk(['whoami', '-o', 'json'])).id);
    ok(await kk(['tokens', 'revoke', String(t.id)]));
    const after = await kk(['whoami'], { KUBEKLOUD_TOKEN: t.token });
    expect(after.code).toBe(1);
    const missing = await kk(['tokens', 'revoke', String(t.id)]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: .*not found/im);
  });
});

describe('a retry after a network error', () => {
  it('reuses the Idempotency-Key: the server acted once, the CLI still gets its answer', async () => {
    const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
    // A proxy that delivers the first request but drops the connection before
    // the answer comes back; later connections pass through.
    const target = new URL(server.url);
    const port = await freePort();
    let connections = 0;
    const sockets: Socket[] = [];
    const proxy = createServer((c) => {
      const first = ++connections === 1;
      const up = connect(Number(target.port), target.hostname);
      sockets.push(c, up);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
      c.pipe(up);
      if (first) up.once('data', () => (c.destroy(), up.destroy()));
      else up.pipe(c);
    });
    await new Promise<void>((r) => proxy.listen(port, '127.0.0.1', () => r()));
    try {
      const r = await kk(['tokens', 'create', 'retried', '-o', 'json'], { KUBEKLOUD_URL: `http://127.0.0.1:${port}`, KUBEKLOUD_TOKEN: client.token! });
      expect(connections).toBe(2);
      const t = json(r);
      const tokens = (await client.get('/api/v1/users/me/tokens')).body as { id: number; name: string }[];
      expect(tokens.filter((x) => x.name === 'retried').map((x) => x.id)).toEqual([t.id]);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});

describe('clusters and instances on the control plane', () => {
  it('create --wait → list → get → stop/start → scale → suspend/resume → delete --wait, with quota along the way', async () => {
    const { client } = await createTenant(server.admin, { cpu: 4, memory: 8, instances: 10 });
    await loginAs(client.token!);
    expect(json(await kk(['quota', '-o', 'json']))).toMatchObject({ total_cpu: 4, used_cpu: 0, available_instances: 10, total_storage_gb: 100, total_load_balancers: 5 });
    expect(ok(await kk(['quota'])).stdout).toMatch(/^storage \(GB\)\s+0\s+100\s+100$[\s\S]*^load balancers\s+0\s+5\s+5$/m);

    // Validation errors: one `loc: msg` line each, exit 1.
    const invalid = await kk(['clusters', 'create', 'web', '--type', 'container', '--cpu', '0', '--memory', '1', '--count', '2']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^error: body\.cpu_per_instance: /m);
    // Over quota: the API's sentence.
    const over = await kk(['clusters', 'create', 'big', '--type', 'container', '--cpu', '1', '--memory', '1', '--count', '11']);
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/^error: Quota exceeded/);

    const created = await kk(['clusters', 'create', 'web', '--type', 'container', '--cpu', '0.5', '--memory', '1', '--count', '2', '--port', '8080', '--wait', '--timeout', '240', '-o', 'json']);
    const c = json(created);
    expect(c).toMatchObject({ name: 'web', status: 'running', instance_count: 2 });
    expect(c.instances.map((i: { status: string }) => i.status)).toEqual(['running', 'running']);
    // Not a terminal: progress comes as plain lines, ending with all running.
    expect(created.stderr).toMatch(/instances running 2\/2\n$/);
    expect(created.stderr).not.toContain('\r');

    const list = json(await kk(['clusters', 'list', '-o', 'json']));
    expect(list.map((x: { id: number; name: string }) => [x.id, x.name])).toEqual([[c.id, 'web']]);
    expect(ok(await kk(['clusters', 'list'])).stdout).toMatch(new RegExp(`^${c.id}\\s+web\\s+container\\s+running\\s+2`, 'm'));

    const yaml = ok(await kk(['clusters', 'get', 'web', '-o', 'yaml'])).stdout;
    expect(yaml).toMatch(new RegExp(`^id: ${c.id}$`, 'm'));
    expect(yaml).toMatch(/^name: web$/m);
    expect(yaml).toMatch(/^status: running$/m);
    expect(yaml).toMatch(/^ports:\n- port: 8080\n {2}protocol: TCP$/m);
    expect(yaml).toMatch(/^instances:\n- id: \d+\n {2}cluster_id: \d+\n {2}instance_name: web-1$/m);
    expect(ok(await kk(['clusters', 'get', String(c.id)])).stdout).toMatch(/^Status: +running$/m);
    expect(json(await kk(['quota', '-o', 'json']))).toMatchObject({ used_cpu: 1, used_memory: 2, used_instances: 2 });

    // One instance: stop, then start, each waited for.
    const first = c.instances[0].id as number;
    const stopped = await kk(['instances', 'stop', String(first), '--wait', '--timeout', '240']);
    expect(ok(stopped).stdout).toMatch(/stop accepted; now stopped/);
    expect(json(await kk(['instances', 'get', String(first), '-o', 'json']))).toMatchObject({ status: 'stopped', desired_status: 'stopped' });
    const started = await kk(['instances', 'start', String(first), '--wait', '--timeout', '240', '-o', 'json']);
    expect(json(started).wait.converged).toBe(true);
    expect(json(await kk(['instances', 'get', String(first), '-o', 'json'])).status).toBe('running');
    // An illegal transition: the API's sentence, exit 1.
    const again = await kk(['instances', 'start', String(first)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: Cannot start instance/);

    // Scale out and wait.
    const scaled = json(await kk(['clusters', 'scale', 'web', '--count', '3', '--wait', '--timeout', '240', '-o', 'json']));
    expect(scaled.instances).toHaveLength(3);
    expect(scaled.instances.every((i: { status: string }) => i.status === 'running')).toBe(true);
    expect(json(await kk(['quota', '-o', 'json']))).toMatchObject({ used_instances: 3 });

    // A live change, rolled one instance at a time and waited for; the cluster shows the roll.
    const updated = json(await kk(['clusters', 'update', 'web', '--memory', '1.5', '-e', 'MODE=next', '--wait', '--timeout', '240', '-o', 'json']));
    expect(updated.instances.every((i: { status: string }) => i.status === 'running')).toBe(true);
    const rolled = ok(await kk(['clusters', 'get', 'web'])).stdout;
    expect(rolled).toMatch(/^Rollout: +generation 2: 3\/3 updated, done$/m);
    expect(rolled).toMatch(/^Memory per instance: +1\.5 GB$/m);
    expect(json(await kk(['quota', '-o', 'json']))).toMatchObject({ used_memory: 4.5 });
    const nothing = await kk(['clusters', 'update', 'web']);
    expect([nothing.code, nothing.stderr]).toEqual([2, expect.stringMatching(/nothing to change/)]);

    // Suspend and resume the whole cluster.
    ok(await kk(['clusters', 'suspend', 'web', '--wait', '--timeout', '240']));
    expect(json(await kk(['clusters', 'get', 'web', '-o', 'json'])).instances.every((i: { status: string }) => i.status === 'suspended')).toBe(true);
    ok(await kk(['clusters', 'resume', String(c.id), '--wait', '--timeout', '240']));
    expect(json(await kk(['clusters', 'get', 'web', '-o', 'json'])).status).toBe('running');

    // Delete and wait until it is gone; the quota comes back.
    const deleted = ok(await kk(['clusters', 'delete', 'web', '--wait', '--timeout', '240']));
    expect(deleted.stdout).toMatch(/being deleted/);
    const gone = await kk(['clusters', 'get', String(c.id)]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`error: ${(await client.get(`/api/v1/clusters/${c.id}`)).body.detail}\n`);
    expect(json(await kk(['quota', '-o', 'json']))).toMatchObject({ used_cpu: 0, used_memory: 0, used_instances: 0 });
    expect(json(await kk(['clusters', 'list', '-o', 'json']))).toEqual([]);
  }, 900_000);

  it("snapshots create --wait → list → restore --wait (stopped first, running again) → delete, with the storage quota along the way", async () => {
    const { client } = await createTenant(server.admin, { cpu: 2, memory: 2 });
    await loginAs(client.token!);
    const c = json(await kk(['clusters', 'create', 'db', '--type', 'container', '--cpu', '0.25', '--memory', '0.25', '--count', '1', '--volume', '1', '--wait', '--timeout', '120', '-o', 'json']));
    const id = String(c.instances[0].id);
    const bad = await kk(['snapshots', 'get', id, 'latest']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: instance and snapshot must be numeric ids, not 'latest'\n/);

    const snap = json(await kk(['snapshots', 'create', id, '--name', 'nightly', '--wait', '-o', 'json']));
    expect(snap).toMatchObject({ name: 'nightly', status: 'ready', size_gb: 1, wait: { converged: true } });
    expect(json(await kk(['quota', '-o', 'json']))).toMatchObject({ used_storage_gb: 2 });
    expect(ok(await kk(['snapshots', 'list', id])).stdout).toMatch(/^ID\s+NAME\s+KIND\s+STATUS\s+SIZE[\s\S]*^\d+\s+nightly\s+volume\s+ready\s+1 GB/m);

    const restored = ok(await kk(['snapshots', 'restore', id, String(snap.id), '--wait', '--timeout', '120']));
    expect(restored.stdout).toBe(`Instance '${c.instances[0].instance_name}' was running: it is stopped for the restore of snapshot 'nightly', and started again once restored\n`);
    expect(json(await kk(['snapshots', 'get', id, String(snap.id), '-o', 'json'])).last_restore).toMatchObject({ phase: 'done' });
    expect(json(await kk(['instances', 'get', id, '-o', 'json']))).toMatchObject({ phase: 'running' });

    expect(ok(await kk(['snapshots', 'delete', id, String(snap.id)])).stdout).toBe("Snapshot 'nightly' is being deleted\n");
    expect(json(await kk(['quota', '-o', 'json']))).toMatchObject({ used_storage_gb: 1 });
    ok(await kk(['clusters', 'delete', String(c.id)]));
  }, 300_000);

  it('--dry-run quotes a create, a scale, a live change and an operation, lists every reason a refusal would give (exit 1), and changes nothing', async () => {
    const { client } = await createTenant(server.admin, { cpu: 1, memory: 1, instances: 3 });
    await loginAs(client.token!);
    const ok1 = ok(await kk(['clusters', 'create', 'quoted', '--type', 'container', '--cpu', '0.25', '--memory', '0.25', '--count', '2', '--dry-run']));
    expect(ok1.stdout).toMatch(/^Would be accepted\.\n/);
    expect(ok1.stdout).toMatch(/^cpu \(cores\)\s+0\.5\s+0\.5$/m);
    expect(ok1.stdout).toContain('  StatefulSet/quoted-2\n');
    const refused = await kk(['clusters', 'create', 'big', '--type', 'container', '--cpu', '1', '--memory', '1', '--count', '4', '--service-type', 'LoadBalancer', '--dry-run']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('Would be refused:\n  - body.service_type: needs at least one entry in ports\n  - cpu: 4 cores asked, 1 cores available\n  - memory: 4 GB asked, 1 GB available\n  - instances: 4 asked, 3 available\n');
    expect(json(await kk(['clusters', 'list', '-o', 'json']))).toEqual([]);
    expect(json(await kk(['quota', '-o', 'json']))).toMatchObject({ used_cpu: 0, used_instances: 0 });

    const c = json(await kk(['clusters', 'create', 'small', '--type', 'container', '--cpu', '0.25', '--memory', '0.25', '--count', '1', '-o', 'json']));
    const refusedScale = await kk(['clusters', 'scale', 'small', '-n', '5', '--dry-run', '-o', 'json']);
    expect(refusedScale.code).toBe(1);
    const scale = JSON.parse(refusedScale.stdout);
    expect(scale).toMatchObject({ allowed: false, reservation: { instances: 4 }, reasons: [{ code: 'quota', message: 'cpu: 1 cores asked, 0.75 cores available' }, expect.anything(), expect.anything()] });
    const start = await kk(['instances', 'start', String(c.instances[0].id), '--dry-run']);
    expect(start.code).toBe(1);
    expect(start.stdout).toMatch(/Would be refused:\n  - .*start/);
    expect(ok(await kk(['instances', 'stop', String(c.instances[0].id), '--dry-run'])).stdout).toMatch(/^Would be accepted/);
    const refusedUpdate = await kk(['clusters', 'update', 'small', '--cpu', '2', '--dry-run']);
    expect(refusedUpdate.code).toBe(1);
    expect(refusedUpdate.stdout).toContain('Would be refused:\n  - cpu: 1.75 cores asked, 0.75 cores available\n');
    expect(json(await kk(['clusters', 'get', 'small', '-o', 'json'])).cpu_per_instance).toBe(0.25);
    expect(json(await kk(['clusters', 'get', 'small', '-o', 'json'])).instance_count).toBe(1);
    expect(json(await kk(['instances', 'get', String(c.instances[0].id), '-o', 'json'])).desired_status).toBe('running');
    ok(await kk(['clusters', 'delete', 'small']));
  }, 120_000);

  it('clusters expire and schedules add, list, delete; a bad cron or zone exits 1 naming the field', async () => {
    const { client } = await createTenant(server.admin, { cpu: 1, memory: 1 });
    await loginAs(client.token!);
    const c = json(await kk(['clusters', 'create', 'office', '--type', 'container', '--cpu', '0.1', '--memory', '0.25', '--expires-in', '2h', '--expire-action', 'delete', '-o', 'json']));
    expect(c).toMatchObject({ expire_action: 'delete', warnings: [{ code: 'expiring' }] });
    expect(ok(await kk(['clusters', 'get', 'office'])).stdout).toMatch(/^Expires: +\S+ \(then deleted\)$/m);
    expect(json(await kk(['clusters', 'expire', 'office', '--at', '2099-01-15T18:00:00+01:00', '-o', 'json']))).toMatchObject({ expires_at: '2099-01-15T17:00:00.000Z', expire_action: 'stop', warnings: [] });
    expect((await kk(['clusters', 'expire', 'office'])).code).toBe(2);
    const past = await kk(['clusters', 'expire', 'office', '--at', '2001-01-01T00:00:00Z']);
    expect(past.code).toBe(1);
    expect(past.stderr).toMatch(/body\.expires_at: must be in the future/);

    const s = json(await kk(['schedules', 'add', 'office', '--action', 'stop', '--cron', '0 19 * * MON-FRI', '--tz', 'Europe/Paris', '-o', 'json']));
    expect(s).toMatchObject({ action: 'stop', time_zone: 'Europe/Paris', next_run_at: expect.stringMatching(/T1[78]:00:00\.000Z$/) });
    const bad = await kk(['schedules', 'add', 'office', '--action', 'start', '--cron', '0 7 * *', '--tz', 'Mars/Olympus']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/body\.cron: /);
    const badZone = await kk(['schedules', 'add', 'office', '--action', 'start', '--cron', '0 7 * * *', '--tz', 'Mars/Olympus']);
    expect(badZone.stderr).toMatch(/body\.time_zone: 'Mars\/Olympus' is not an IANA time zone/);
    const table = ok(await kk(['schedules', 'list', 'office'])).stdout;
    expect(table).toMatch(/^ID\s+ACTION\s+CRON\s+TIME ZONE\s+NEXT RUN$/m);
    expect(table).toContain('0 19 * * MON-FRI');
    ok(await kk(['schedules', 'delete', 'office', String(s.id)]));
    expect(json(await kk(['schedules', 'list', 'office', '-o', 'json']))).toMatchObject({ items: [], total: 0 });
    expect(json(await kk(['clusters', 'expire', 'office', '--never', '-o', 'json']))).toMatchObject({ expires_at: null, warnings: [] });
    ok(await kk(['clusters', 'delete', 'office']));
  });

  it('another tenant cannot see or operate the cluster (404 detail, exit 1)', async () => {
    const owner = await createTenant(server.admin, { cpu: 1, memory: 1 });
    const other = await createTenant(server.admin, { cpu: 1, memory: 1 });
    const res = await (owner.client as ApiClient).post('/api/v1/clusters/', { name: 'mine', instance_type: 'container', cpu_per_instance: 0.1, memory_per_instance: 0.25, instance_count: 1 });
    expect(res.status).toBe(201);
    await loginAs(other.client.token!);
    for (const args of [['clusters', 'get', String(res.body.id)], ['clusters', 'delete', String(res.body.id)], ['instances', 'stop', String(res.body.instances[0].id)]]) {
      const r = await kk(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/^error: .*not found/i);
    }
    await owner.client.delete(`/api/v1/clusters/${res.body.id}`);
  });
});
