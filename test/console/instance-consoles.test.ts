// The instance page's consoles in headless Chromium, against a real server on
// the plane and its KubeVirt stand-in: the serial terminal (xterm.js) shows
// the VM's login prompt and what is typed into it; the VNC view (noVNC)
// completes its handshake through the API and reports connected. Both are
// WebSockets from the page to the API, authenticated with the token as a
// subprotocol, under the console's CSP.
import { childMark } from '../support/children.ts';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from '../support/kube.ts';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const IDLE_SECONDS = 4;
/** With CONSOLE_SCREENSHOTS=<dir> (`npm run screenshots:console`), the page with each console is saved there. */
const SHOTS = process.env.CONSOLE_SCREENSHOTS;

let server: ServerProcess;
let context: BrowserContext;
let profile: string;
let tenant: Awaited<ReturnType<typeof createTenant>>;
let vm: { id: number; instance_name: string };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
  // A short idle timeout, so the page's handling of a session the server closed is seen too.
  server = await startServer({ env: { KUBEKLOUD_CONSOLE_IDLE_SECONDS: String(IDLE_SECONDS) } });
  tenant = await createTenant(server.admin, { cpu: 2, memory: 4, instances: 2 });
  const c = await tenant.client.post('/api/v1/clusters/?wait=60', { name: 'desk', instance_type: 'vm', cpu_per_instance: 1, memory_per_instance: 1, instance_count: 1 });
  expect(c.status).toBe(201);
  vm = c.body.instances[0];
  await eventually(async () => (await tenant.client.get(`/api/v1/instances/${vm.id}`)).body.phase === 'running', 60_000, 'VM running');
  profile = mkdtempSync(join(tmpdir(), 'kubekloud-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1000, height: 760 },
    env: { ...process.env, ...childMark() },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 120_000);
afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await server?.stop();
});

it('shows the login prompt in the serial terminal and takes typing; the VNC view connects, and reconnects after the server closed it idle', async () => {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${new URL(r.url()).pathname}`));
  const sockets: string[] = [];
  page.on('websocket', (ws) => sockets.push(new URL(ws.url()).pathname));

  await page.goto(`${server.url}/console/`);
  await page.getByLabel('API token').fill(tenant.user.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'desk' }).click();
  await page.getByRole('link', { name: vm.instance_name }).click();
  await expect.poll(() => new URL(page.url()).pathname).toBe(`/console/instances/${vm.id}`);

  await expect.poll(() => page.getByTestId('serial-state').textContent(), { timeout: 15_000 }).toContain('connected');
  const rows = page.locator('[data-testid="serial-terminal"] .xterm-rows');
  await expect.poll(() => rows.textContent(), { timeout: 15_000 }).toContain(`${vm.instance_name} login:`);
  await page.locator('[data-testid="serial-terminal"] .xterm-helper-textarea').focus();
  await page.keyboard.type('dave');
  await expect.poll(() => rows.textContent(), { timeout: 10_000 }).toContain(`${vm.instance_name} login: dave`);
  await page.keyboard.press('Enter');
  await expect.poll(async () => ((await rows.textContent()) ?? '').split('login:').length - 1, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
  if (SHOTS) await page.screenshot({ path: join(SHOTS, 'instance-serial.png') });

  await page.getByRole('tab', { name: 'VNC' }).click();
  await expect.poll(() => page.getByTestId('vnc-state').textContent(), { timeout: 20_000 }).toContain('VNC: connected');
  const canvas = page.locator('[data-testid="vnc-screen"] canvas');
  await expect.poll(() => canvas.count()).toBeGreaterThan(0);
  // noVNC sized its canvas to the simulated framebuffer (64×48) it was sent through the API.
  expect(await canvas.first().evaluate((c: HTMLCanvasElement) => [c.width, c.height])).toEqual([64, 48]);
  if (SHOTS) await page.screenshot({ path: join(SHOTS, 'instance-vnc.png') });

  // The simulated screen never changes, so the session falls idle and the server closes it; the page offers to reconnect.
  await expect.poll(() => page.getByTestId('vnc-state').textContent(), { timeout: (IDLE_SECONDS + 6) * 1000 }).toContain('VNC: closed');
  await page.getByRole('button', { name: 'Reconnect' }).click();
  await expect.poll(() => page.getByTestId('vnc-state').textContent(), { timeout: 15_000 }).toContain('VNC: connected');
  // Back to the serial console: the VNC session ends, and the serial one opens once its seat is free.
  await page.getByRole('tab', { name: 'Serial console' }).click();
  await expect.poll(() => page.getByTestId('serial-state').textContent(), { timeout: 15_000 }).toContain('connected');
  await expect.poll(() => rows.textContent(), { timeout: 10_000 }).toContain(`${vm.instance_name} login:`);

  // Every socket the page opened went to the API's console routes, and nowhere else.
  expect(new Set(sockets)).toEqual(new Set([`/api/v1/instances/${vm.id}/console`, `/api/v1/instances/${vm.id}/vnc`]));
  // No CSP refusal, no script error, no failed API call (the browser's own favicon request aside, as in console.test.ts).
  // The one refusal expected: the serial console opened right after the VNC one closed may find its seat not yet
  // freed (409), and the page tries again, as the poll above shows it did.
  expect(problems.filter((e) => !/status of 404/.test(e) && !/Unexpected response code: 409/.test(e))).toEqual([]);
  await page.close();
});

it("takes a snapshot of a container's volume, restores it (the page says the instance was stopped first) and deletes it", async () => {
  const c = await tenant.client.post('/api/v1/clusters/?wait=90', { name: 'files', instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 1, volume_size: 1 });
  expect(c.status, JSON.stringify(c.body)).toBe(201);
  const inst = c.body.instances[0] as { id: number; instance_name: string };
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${new URL(r.url()).pathname}`));
  await page.goto(`${server.url}/console/`);
  await page.getByLabel('API token').fill(tenant.user.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'files' }).click();
  await page.getByRole('link', { name: inst.instance_name }).click();

  const section = page.getByRole('region', { name: 'Snapshots' });
  await expect.poll(() => section.textContent()).toContain('No snapshots.');
  await section.getByLabel('Name').fill('nightly');
  await section.getByRole('button', { name: 'Take snapshot' }).click();
  await expect.poll(() => section.getByRole('status').first().textContent()).toBe("Snapshot 'nightly' is being taken (1 GB of your storage quota)");
  const row = section.locator('tr[data-snapshot="nightly"]');
  // The page reads the list again while the snapshot is made: it becomes ready without a reload.
  await expect.poll(() => row.locator('td').nth(1).textContent(), { timeout: 20_000 }).toBe('ready');

  await row.getByRole('button', { name: 'Restore' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Restore' }).click();
  await expect.poll(() => section.getByRole('status').first().textContent()).toBe(`Instance '${inst.instance_name}' was running: it is stopped for the restore of snapshot 'nightly', and started again once restored`);
  await expect.poll(() => row.getByTestId('last-restore').textContent(), { timeout: 60_000 }).toBe('done');
  // And the instance on the page is running again, read anew as the restore went on.
  await expect.poll(() => page.locator('.status').first().textContent(), { timeout: 30_000 }).toBe('running');
  if (SHOTS) await page.screenshot({ path: join(SHOTS, 'instance-snapshots.png'), fullPage: true });

  await row.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect.poll(() => section.textContent(), { timeout: 20_000 }).toContain('No snapshots.');
  expect((await tenant.client.get('/api/v1/users/me/quota')).body.used_storage_gb).toBe(1);
  expect(problems.filter((e) => !/favicon/.test(e) && !/status of 404/.test(e))).toEqual([]);
  await page.close();
  await tenant.client.delete(`/api/v1/clusters/${c.body.id}`);
}, 180_000);
