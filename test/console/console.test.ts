// The web console, driven in headless Chromium (Debian's package, through
// playwright-core) against a real server and the real control plane: sign in,
// create a cluster, watch it reach running from the event stream, stop and
// start an instance, delete it after confirming; then the admin's pages.
// With CONSOLE_SCREENSHOTS=<dir> the main pages are saved there as PNGs
// (`npm run screenshots:console` writes docs/console/).
import { childMark } from '../support/children.ts';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = process.env.CONSOLE_SCREENSHOTS;

let server: ServerProcess;
let context: BrowserContext;
let profile: string;
let tenant: Awaited<ReturnType<typeof createTenant>>;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
  server = await startServer();
  tenant = await createTenant(server.admin, { cpu: 1, memory: 2, instances: 4 }, `alice-${Math.random().toString(36).slice(2, 6)}`);
  profile = mkdtempSync(join(tmpdir(), 'kubekloud-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1000, height: 660 },
    env: { ...process.env, ...childMark() },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
});
afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await server?.stop();
});

async function shot(page: Page, name: string, only?: string) {
  if (!SHOTS) return;
  await page.mouse.move(0, 0);
  if (only) return void (await page.locator(only).screenshot({ path: join(SHOTS, `${name}.png`) }));
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

async function signIn(page: Page, token: string) {
  await page.goto(`${server.url}/console/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).first().textContent()).toBe('Clusters');
}

const statusOf = (page: Page, instance: string) => page.locator(`tr[data-instance="${instance}"] .status`).textContent();

it('serves the console with its own CSP, and the SPA fallback', async () => {
  const res = await fetch(`${server.url}/console/clusters/123`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/html');
  expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
  expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  const missing = await fetch(`${server.url}/console/assets/nope.js`);
  expect(missing.status).toBe(404);
  expect((await missing.json()).detail).toContain('nope.js');
  // The API keeps its own, stricter policy.
  expect((await fetch(`${server.url}/health`)).headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
  const openapi = await (await fetch(`${server.url}/openapi.json`)).json();
  expect(Object.keys(openapi.paths).some((p: string) => p.startsWith('/console'))).toBe(false);
});

it('signs in, creates a cluster, follows it live to running, stops and starts an instance, deletes it', async () => {
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  const requests: string[] = [];
  page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));

  // A wrong token is refused in words.
  await page.goto(`${server.url}/console/`);
  await page.getByLabel('API token').fill('kk_not-a-real-token-at-all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/token/i);
  if (SHOTS) await shot(page, 'signin');

  await signIn(page, tenant.client.token!);
  expect(await page.evaluate(() => sessionStorage.getItem('kubekloud.token'))).toBe(tenant.client.token);
  expect(await page.evaluate(() => localStorage.length)).toBe(0);
  await expect.poll(() => page.getByText('No clusters yet.').count()).toBe(1);

  // Create: the form checks names as the API does and previews the quota.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Create cluster' }).click();
  await expect.poll(() => page.getByText(/This request uses/).textContent()).toContain('0.5 CPU');
  const name = page.getByLabel('Name', { exact: true });
  await name.fill('Web_1');
  await name.blur();
  await expect.poll(() => page.locator('#f-name-error').textContent()).toContain('Lower-case letters');
  await page.getByLabel('CPU per instance').fill('0.25');
  await page.getByLabel('Memory per instance').fill('0.5');
  // More than the quota: the preview says so, and the API's refusal is shown in words with the input kept.
  await page.getByLabel('Instance count').fill('8');
  await name.fill('web');
  await expect.poll(() => page.getByText(/over your quota/).count()).toBe(1);
  // The preview is the API's quote: every reason it would refuse the request, each quota dimension short.
  await expect.poll(() => page.getByTestId('quote-reasons').textContent()).toContain('instances: 8 asked, 4 available');
  expect(await page.getByTestId('quote-reasons').textContent()).toContain('cpu: 2 cores asked, 1 cores available');
  await page.getByRole('button', { name: 'Create cluster' }).click();
  await expect.poll(() => page.locator('.alert-error').first().textContent()).toMatch(/Quota exceeded|instance_count|100/);
  expect(await name.inputValue()).toBe('web');
  expect(await page.getByLabel('CPU per instance').inputValue()).toBe('0.25');
  await page.getByLabel('Instance count').fill('2');
  await expect.poll(() => page.getByTestId('remaining').textContent()).toBe('Would remain: 0.5 CPU, 1 GB, 2 instance(s).');
  if (SHOTS) await shot(page, 'create-cluster');
  const before = requests.length;
  await page.getByRole('button', { name: 'Create cluster' }).click();

  // The cluster page follows the event stream: no polling of the cluster.
  await page.waitForURL(/\/console\/clusters\/\d+$/);
  const id = Number(/(\d+)$/.exec(page.url())![1]);
  const cluster = (await tenant.client.get(`/api/v1/clusters/${id}`)).body;
  expect(cluster.name).toBe('web');
  const [first, second] = cluster.instances.map((i: { instance_name: string }) => i.instance_name) as string[];
  try {
    await expect.poll(() => statusOf(page, first!), { timeout: 150_000, interval: 250 }).toBe('running');
    await expect.poll(() => statusOf(page, second!), { timeout: 150_000, interval: 250 }).toBe('running');
  } catch (err) {
    const now = (await tenant.client.get(`/api/v1/clusters/${id}`)).body;
    throw new Error(`${(err as Error).message}\nAPI: ${JSON.stringify(now.instances.map((i: any) => [i.instance_name, i.status, i.message]))}\npage: ${await page.locator('.live').textContent()}\n${server.output().slice(-3000)}`);
  }
  await expect.poll(() => page.locator('.summary .status').textContent(), { timeout: 30_000 }).toBe('running');
  const after = requests.slice(before);
  expect(after.filter((r) => r === `GET /api/v1/clusters/${id}/events`).length).toBeGreaterThanOrEqual(1);
  expect(after.filter((r) => r === `GET /api/v1/clusters/${id}`)).toEqual([]);
  expect(await page.locator('.live').textContent()).toBe('Live');
  // Its isolation, checked live: every check listed, each passing.
  await expect.poll(() => page.locator('[data-isolation]').getAttribute('data-isolation'), { timeout: 30_000 }).toBe('passed');
  expect(await page.locator('tr[data-check]').count()).toBe(7);
  expect(await page.locator('tr[data-check="role_bindings"] .status').textContent()).toBe('pass');
  if (SHOTS) await shot(page, 'cluster');

  // Stop and start one instance; the stream brings each status.
  await page.getByRole('button', { name: `Stop ${first}` }).click();
  await expect.poll(() => statusOf(page, first!), { timeout: 120_000, interval: 250 }).toBe('stopped');
  expect(await statusOf(page, second!)).toBe('running');
  await page.getByRole('button', { name: `Start ${first}` }).click();
  await expect.poll(() => statusOf(page, first!), { timeout: 120_000, interval: 250 }).toBe('running');
  expect((await tenant.client.get(`/api/v1/clusters/${id}`)).body.instances.every((i: { status: string }) => i.status === 'running')).toBe(true);

  // The list shows it with its status.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Clusters' }).click();
  await expect.poll(() => page.locator('tr[data-cluster="web"] .status').textContent()).toBe('running');
  if (SHOTS) await shot(page, 'clusters');

  // Quota: usage bars.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Quota' }).click();
  await expect.poll(() => page.getByRole('meter', { name: 'CPU' }).getAttribute('aria-valuetext')).toBe('0.5 of 1 cores');
  if (SHOTS) await shot(page, 'quota');

  // Tokens: create one (shown once), revoke it after confirming.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tokens' }).click();
  await page.getByLabel('Name', { exact: true }).fill('laptop');
  await page.getByLabel('Expires after (days, optional)').fill('30');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = await page.getByTestId('new-token').textContent();
  expect((await tenant.client.withToken(secret!).get('/api/v1/users/me')).status).toBe(200);
  await expect.poll(() => page.locator('tr[data-token="laptop"]').count()).toBe(1);
  if (SHOTS) await shot(page, 'tokens');
  await page.getByRole('button', { name: 'Revoke laptop' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await expect.poll(() => page.locator('tr[data-token="laptop"]').count()).toBe(0);
  expect((await tenant.client.withToken(secret!).get('/api/v1/users/me')).status).toBe(401);

  // A narrow screen: nothing wider than the screen, navigation behind a button.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(`${server.url}/console/clusters/${id}`);
  await expect.poll(() => statusOf(page, first!)).toBe('running');
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
  await page.getByRole('button', { name: 'Menu' }).click();
  await expect.poll(() => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Quota' }).isVisible()).toBe(true);
  await page.getByRole('button', { name: 'Menu' }).click();
  if (SHOTS) await shot(page, 'cluster-narrow');
  await page.setViewportSize({ width: 1000, height: 660 });

  // Scale: refused in words below 1, then out to three instances.
  await page.getByLabel('Instance count').fill('0');
  await page.getByRole('button', { name: 'Scale' }).click();
  await expect.poll(() => page.locator('#instance-count-error').textContent()).toContain('1 to 100');
  // The preview is the API's quote of the scale: beyond the quota it says why, within it what it reserves.
  await page.getByLabel('Instance count').fill('5');
  await expect.poll(() => page.getByTestId('scale-quote-reasons').textContent()).toMatch(/instances: \d+ asked, \d+ available/);
  await page.getByLabel('Instance count').fill('3');
  await expect.poll(() => page.getByTestId('scale-quote').textContent()).toContain('Would reserve');
  await page.getByRole('button', { name: 'Scale' }).click();
  await expect.poll(() => page.locator('tr[data-instance]').count()).toBe(3);
  expect((await tenant.client.get(`/api/v1/clusters/${id}`)).body.instance_count).toBe(3);

  // A live change made elsewhere (the API, the CLI) shows as the cluster's last change, live, to done.
  expect((await tenant.client.patch(`/api/v1/clusters/${id}`, { memory_per_instance: 0.625 })).status).toBe(200);
  await expect.poll(() => page.locator('[data-rollout]').textContent(), { timeout: 120_000 }).toMatch(/^generation 2: 3 of 3 instances updated, done/);

  // Delete asks first: cancelling keeps the cluster, confirming deletes it.
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await expect.poll(() => dialog.getByRole('heading').textContent()).toBe('Delete cluster web?');
  if (SHOTS) await shot(page, 'delete-confirm', 'dialog');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  expect((await tenant.client.get(`/api/v1/clusters/${id}`)).body.status).not.toBe('deleting');
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await dialog.getByRole('button', { name: 'Delete cluster' }).click();
  await page.waitForURL(/\/console\/?$/);
  await expect
    .poll(async () => {
      const r = await tenant.client.get(`/api/v1/clusters/${id}`);
      return r.status === 404 || r.body.status === 'deleting';
    })
    .toBe(true);
  expect(consoleErrors.filter((e) => !/status of 40[134]/.test(e))).toEqual([]);
  await page.close();
}, 600_000);

it('lets an admin list users and change a quota, with the API refusing a quota below usage in words', async () => {
  const page = await context.newPage();
  const bob = await createTenant(server.admin, { cpu: 2, memory: 2, instances: 2 }, `bob-${Math.random().toString(36).slice(2, 6)}`);
  const busy = await tenant.client.post('/api/v1/clusters/', { name: 'busy', instance_type: 'container', cpu_per_instance: 0.5, memory_per_instance: 0.5, instance_count: 1 });
  expect(busy.status, JSON.stringify(busy.body)).toBe(201);
  // By keyboard alone: the token field has focus and Enter signs in.
  await page.goto(`${server.url}/console/users`);
  await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('token');
  await page.keyboard.type(server.admin.token!);
  await page.keyboard.press('Enter');
  await expect.poll(() => page.getByRole('heading', { level: 1 }).first().textContent()).toBe('Users & quotas');
  // The page's heading takes focus on arrival, so Tab goes on into the page.
  expect(await page.evaluate(() => document.activeElement?.tagName + ' ' + document.activeElement?.textContent)).toBe('H1 Users & quotas');
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Create a user');
  await expect.poll(() => page.locator(`tr[data-user="${bob.user.username}"]`).count()).toBe(1);
  if (SHOTS) await shot(page, 'users');

  await page.getByRole('button', { name: `Change quota of ${bob.user.username}` }).click();
  await page.locator('tr.editing').getByLabel('CPU quota (cores)').fill('3');
  await page.locator('tr.editing').getByRole('button', { name: 'Save' }).click();
  await expect.poll(() => page.getByText(`Quota of ${bob.user.username} changed.`).count()).toBe(1);
  expect((await server.admin.get('/api/v1/users/')).body.find((u: { id: number }) => u.id === bob.user.id).quota_cpu).toBe(3);

  // Below what alice uses: refused, in words, and the form keeps the value.
  await page.getByRole('button', { name: `Change quota of ${tenant.user.username}` }).click();
  await page.locator('tr.editing').getByLabel('CPU quota (cores)').fill('0.1');
  await page.locator('tr.editing').getByRole('button', { name: 'Save' }).click();
  await expect.poll(() => page.locator('tr.editing .alert-error').textContent()).toMatch(/\w+/);
  expect(await page.locator('tr.editing').getByLabel('CPU quota (cores)').inputValue()).toBe('0.1');
  await page.locator('tr.editing').getByRole('button', { name: 'Cancel' }).click();

  // Create a user: the token is shown once. Delete asks first.
  await page.getByText('Create a user').click();
  await page.getByLabel('Username').fill('carol');
  await page.getByRole('button', { name: 'Create user' }).click();
  const carolToken = await page.getByTestId('new-user-token').textContent();
  expect((await server.admin.withToken(carolToken!).get('/api/v1/users/me')).body.username).toBe('carol');
  await page.getByRole('button', { name: 'Delete carol' }).focus();
  await page.keyboard.press('Enter');
  await expect.poll(() => page.getByRole('dialog').isVisible()).toBe(true);
  await page.keyboard.press('Escape');
  await expect.poll(() => page.getByRole('dialog').isVisible()).toBe(false);
  expect(await page.locator('tr[data-user="carol"]').count()).toBe(1);
  await page.getByRole('button', { name: 'Delete carol' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete user' }).click();
  await expect.poll(() => page.locator('tr[data-user="carol"]').count()).toBe(0);
  await page.close();
}, 120_000);
