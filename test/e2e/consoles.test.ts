// Serial console and VNC through the API, end to end: a real server on the
// local plane, whose API server proxies subresources.kubevirt.io to the
// KubeVirt stand-in (docs/LOCAL-CLUSTER.md). The tenant's WebSocket goes to
// the API; the API opens the VMI's stream through the Kubernetes API server
// with its own kubeconfig and carries the bytes.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, repoRoot } from '../support/kube.ts';
import { readBytes } from '../support/kubevirt.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

const IDLE_SECONDS = 3;
const BEARER = 'base64url.bearer.kubekloud.io.';

let server: ServerProcess;
let alice: Awaited<ReturnType<typeof createTenant>>;
let bob: Awaited<ReturnType<typeof createTenant>>;
let vmId: number;
let vmName: string;
let containerId: number;
let db: pg.Client;

type Opened = {
  ws: WebSocket;
  /** Resolves with everything received once it contains `text`. */
  until(text: string | Buffer, timeoutMs?: number): Promise<Buffer>;
  /** The next `n` bytes. */
  take(n: number, timeoutMs?: number): Promise<Buffer>;
  closed: Promise<{ code: number; reason: string }>;
};
type Refused = { status: number; body: any };

/** Opens a console route; resolves with the socket, or rejects with the HTTP answer that refused the upgrade. */
function open(path: string, o: { token?: string; protocols?: string[]; headers?: Record<string, string> } = {}): Promise<Opened> {
  const url = `${server.url.replace(/^http/, 'ws')}${path}`;
  const headers = { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers };
  const ws = new WebSocket(url, o.protocols ?? ['plain.kubevirt.io'], { headers });
  const bytes = readBytes(ws);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    ws.once('open', () =>
      resolve({
        ws,
        closed,
        until: bytes.until,
        take: bytes.take,
      }),
    );
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        reject({ status: res.statusCode ?? 0, body } satisfies Refused);
      });
    });
    ws.once('error', reject);
  });
}

const refusal = (p: Promise<Opened>) =>
  p.then(
    (o) => {
      o.ws.close();
      throw new Error('the upgrade was accepted');
    },
    (e: Refused) => e,
  );

const auditRows = async (target: number) =>
  (await db.query(`SELECT actor, route, target, status_code, outcome, detail FROM audit_log WHERE route LIKE '/api/v1/instances/:id/%' AND target = $1 ORDER BY id`, [String(target)])).rows;

beforeAll(async () => {
  server = await startServer({ env: { KUBEKLOUD_CONSOLE_IDLE_SECONDS: String(IDLE_SECONDS) } });
  db = new pg.Client({ connectionString: server.env.DATABASE_URL });
  await db.connect();
  alice = await createTenant(server.admin, { cpu: 4, memory: 8, instances: 4 });
  bob = await createTenant(server.admin, { cpu: 4, memory: 8, instances: 4 });
  const vm = await alice.client.post('/api/v1/clusters/?wait=60', { name: 'con', instance_type: 'vm', cpu_per_instance: 1, memory_per_instance: 1, instance_count: 1 });
  expect(vm.status).toBe(201);
  vmId = vm.body.instances[0].id;
  vmName = vm.body.instances[0].instance_name;
  await eventually(async () => (await alice.client.get(`/api/v1/instances/${vmId}`)).body.phase === 'running', 60_000, 'VM running');
  const ctr = await alice.client.post('/api/v1/clusters/', { name: 'box', instance_type: 'container', cpu_per_instance: 0.1, memory_per_instance: 0.125, instance_count: 1 });
  expect(ctr.status).toBe(201);
  containerId = ctr.body.instances[0].id;
}, 120_000);

afterAll(async () => {
  await db?.end();
  await server?.stop();
});

describe('serial console', () => {
  it("shows the VM's login prompt and echoes what the tenant types (Authorization header)", async () => {
    const c = await open(`/api/v1/instances/${vmId}/console`, { token: alice.user.token });
    expect(c.ws.protocol).toBe('plain.kubevirt.io');
    expect((await c.until('login: ')).toString()).toContain(`${vmName} login: `);
    c.ws.send(Buffer.from('alice'), { binary: true });
    expect((await c.until('alice')).toString()).toBe('alice');
    // Text frames (what a browser terminal may send) go on as their bytes.
    c.ws.send('\r');
    expect((await c.until('login: ')).toString()).toContain(`${vmName} login: `);
    c.ws.close();
    await c.closed;
  });

  it('takes the token as a subprotocol beside a data subprotocol, and answers with the data one only', async () => {
    const b64 = Buffer.from(alice.user.token).toString('base64url');
    const c = await eventually(() => open(`/api/v1/instances/${vmId}/console`, { protocols: [`${BEARER}${b64}`, 'plain.kubevirt.io'] }).catch(() => undefined), 10_000, 'seat free');
    expect(c.ws.protocol).toBe('plain.kubevirt.io');
    await c.until('login: ');
    c.ws.close();
    await c.closed;
    // A token subprotocol alone cannot be answered without echoing the token: refused, saying what to add.
    const alone = await refusal(open(`/api/v1/instances/${vmId}/console`, { protocols: [`${BEARER}${b64}`] }));
    expect(alone.status).toBe(422);
    expect(JSON.stringify(alone.body.detail)).toContain('plain.kubevirt.io');
  });

  it('refuses: no token 401, a bad token 401, a malformed token subprotocol 401, another tenant 404, a plain GET 426', async () => {
    const path = `/api/v1/instances/${vmId}/console`;
    expect((await refusal(open(path))).status).toBe(401);
    const bad = await refusal(open(path, { token: 'kk_not-a-real-token-at-all' }));
    expect(bad.status).toBe(401);
    expect(bad.body.detail).toBe('Invalid authentication token');
    expect((await refusal(open(path, { protocols: [`${BEARER}!!!`, 'plain.kubevirt.io'] }))).status).toBe(401);
    const other = await refusal(open(path, { token: bob.user.token }));
    expect(other.status).toBe(404);
    expect(other.body.detail).toBe(`Instance with id ${vmId} not found`);
    expect((await refusal(open(`/api/v1/instances/999999/vnc`, { token: alice.user.token }))).status).toBe(404);
    const plain = await alice.client.get(path);
    expect(plain.status).toBe(426);
    expect(plain.body.detail).toContain('WebSocket');
  });

  it('refuses a container instance with 409 naming why', async () => {
    const r = await refusal(open(`/api/v1/instances/${containerId}/console`, { token: alice.user.token }));
    expect(r.status).toBe(409);
    expect(r.body.detail).toContain('is a container');
  });

  it('one session per instance and token: a second is refused (409) while the first is open, allowed after it closed; another token of the same tenant may', async () => {
    const path = `/api/v1/instances/${vmId}/console`;
    const first = await eventually(() => open(path, { token: alice.user.token }).catch(() => undefined), 10_000, 'seat free');
    await first.until('login: ');
    const second = await refusal(open(path, { token: alice.user.token }));
    expect(second.status).toBe(409);
    expect(second.body.detail).toContain('already has a console session open');
    // The VNC console of the same instance is a session too.
    expect((await refusal(open(`/api/v1/instances/${vmId}/vnc`, { token: alice.user.token }))).status).toBe(409);
    const other = (await alice.client.post('/api/v1/users/me/tokens', { name: 'second-terminal' })).body.token as string;
    const parallel = await open(path, { token: other });
    await parallel.until('login: ');
    parallel.ws.close();
    first.ws.close();
    await first.closed;
    const again = await eventually(() => open(path, { token: alice.user.token }).catch(() => undefined), 10_000, 'the seat freed after close');
    await again.until('login: ');
    again.ws.close();
    await again.closed;
  });

  it(`closes a session idle for KUBEKLOUD_CONSOLE_IDLE_SECONDS (${IDLE_SECONDS} s) with code 4001`, async () => {
    const c = await eventually(() => open(`/api/v1/instances/${vmId}/console`, { token: alice.user.token }).catch(() => undefined), 10_000, 'seat free');
    await c.until('login: ');
    const started = Date.now();
    const { code, reason } = await c.closed;
    expect(code).toBe(4001);
    expect(reason).toContain('idle');
    const after = (Date.now() - started) / 1000;
    expect(after).toBeGreaterThan(IDLE_SECONDS - 0.5);
    expect(after).toBeLessThan(IDLE_SECONDS + 3);
  });
});

describe('VNC', () => {
  it('completes the RFB 3.8 handshake through the API (security None, ServerInit, a framebuffer update)', async () => {
    const c = await eventually(() => open(`/api/v1/instances/${vmId}/vnc`, { token: alice.user.token }).catch(() => undefined), 10_000, 'seat free');
    expect((await c.take(12)).toString('latin1')).toBe('RFB 003.008\n');
    c.ws.send(Buffer.from('RFB 003.008\n'));
    const n = (await c.take(1))[0]!;
    const types = [...(await c.take(n))];
    expect(types).toContain(1); // None
    c.ws.send(Buffer.from([1]));
    expect((await c.take(4)).readUInt32BE(0)).toBe(0); // SecurityResult OK
    c.ws.send(Buffer.from([1])); // ClientInit, shared
    const init = await c.take(24);
    const [width, height] = [init.readUInt16BE(0), init.readUInt16BE(2)];
    expect([width, height]).toEqual([64, 48]);
    const name = (await c.take(init.readUInt32BE(20))).toString('utf8');
    expect(name).toContain(vmName);
    // FramebufferUpdateRequest, not incremental, the whole screen: one raw rectangle comes back.
    const req = Buffer.alloc(10);
    req.writeUInt8(3, 0);
    req.writeUInt8(0, 1);
    req.writeUInt16BE(width, 6);
    req.writeUInt16BE(height, 8);
    c.ws.send(req);
    const head = await c.take(4);
    expect(head[0]).toBe(0); // FramebufferUpdate
    expect(head.readUInt16BE(2)).toBe(1);
    c.ws.close();
    await c.closed;
  });
});

/** `kubekloud …` with stdin a pipe: what it printed and its exit code, once it exits; `feed` writes to its stdin as output arrives. */
function kk(args: string[], token: string, feed: (out: string, stdin: NodeJS.WritableStream) => void = () => {}) {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'kubekloud.js'), ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', XDG_CONFIG_HOME: '/nonexistent', KUBEKLOUD_URL: server.url, KUBEKLOUD_TOKEN: token },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => ((out += d), feed(out, child.stdin)));
  child.stderr.on('data', (d) => (err += d));
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
}

describe('CLI: kubekloud instances console', () => {
  it('shows the prompt, sends what is typed, and leaves on Ctrl-] with exit 0', async () => {
    await eventually(async () => (await auditRows(vmId)).filter((r) => r.detail?.event === 'console.close').length === (await auditRows(vmId)).filter((r) => r.detail?.event === 'console.open').length || undefined, 10_000, 'no session open');
    let step = 0;
    const r = await kk(['instances', 'console', String(vmId)], alice.user.token, (out, stdin) => {
      if (step === 0 && out.includes('login: ')) (step = 1), stdin.write('carol\r');
      else if (step === 1 && out.includes('carol')) (step = 2), stdin.write(Buffer.from([0x1d]));
    });
    expect(r.err, JSON.stringify(r)).toContain('Press Ctrl-] to leave');
    expect(r.out, JSON.stringify(r)).toContain(`${vmName} login: carol`);
    expect(r.err).toContain('Left the console.');
    expect(r.code).toBe(0);
  });

  it("prints the API's refusal and exits 1 (another tenant's instance)", async () => {
    const r = await kk(['instances', 'console', String(vmId)], bob.user.token);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`error: Instance with id ${vmId} not found\n`);
  });
});

describe('audit', () => {
  it('writes a row when a session opens and one when it closes: who, which instance, how long, how many bytes each way', async () => {
    const rows = await eventually(async () => {
      const r = await auditRows(vmId);
      // The last session (VNC) is closed and audited.
      return r.filter((x) => x.detail?.event === 'console.close' && x.detail.kind === 'vnc').length >= 1 ? r : undefined;
    }, 10_000, 'VNC close audited');
    const opens = rows.filter((r) => r.detail?.event === 'console.open');
    const closes = rows.filter((r) => r.detail?.event === 'console.close');
    expect(opens.length).toBeGreaterThanOrEqual(5);
    expect(closes.length).toBe(opens.length);
    for (const r of [...opens, ...closes]) {
      expect(r).toMatchObject({ target: String(vmId), status_code: 101, outcome: 'success' });
      expect(['alice', alice.user.username]).toContain(r.actor);
    }
    const serial = closes.find((r) => r.detail.kind === 'serial')!;
    expect(serial.route).toBe('/api/v1/instances/:id/console');
    expect(serial.detail.duration_seconds).toBeGreaterThan(0);
    expect(serial.detail.bytes_to_instance).toBeGreaterThan(0);
    expect(serial.detail.bytes_from_instance).toBeGreaterThan(serial.detail.bytes_to_instance);
    expect(closes.some((r) => /idle/.test(r.detail.reason))).toBe(true);
    const vnc = closes.find((r) => r.detail.kind === 'vnc')!;
    expect(vnc.route).toBe('/api/v1/instances/:id/vnc');
    expect(vnc.detail.bytes_from_instance).toBeGreaterThan(64 * 48); // the framebuffer came through
    // Refusals before the upgrade open no session.
    expect(rows.every((r) => r.actor === alice.user.username)).toBe(true);
  });

  it('refuses a VM that is not running with 409 naming its state', async () => {
    expect((await alice.client.post(`/api/v1/instances/${vmId}/operate?wait=45`, { operation: 'stop' })).status).toBe(200);
    await eventually(async () => (await alice.client.get(`/api/v1/instances/${vmId}`)).body.status === 'stopped', 45_000, 'stopped');
    const r = await refusal(open(`/api/v1/instances/${vmId}/console`, { token: alice.user.token }));
    expect(r.status).toBe(409);
    expect(r.body.detail).toMatch(/is (stopping|stopped): a serial console opens only while the VM is running/);
  });
});
