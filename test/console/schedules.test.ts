// Expiry and power schedules in the console, in headless Chromium against a
// real server: on the cluster page setting an expiry shows it and its warning,
// a bad cron expression is refused under its field in the API's words, a
// schedule is added with its next run and deleted after confirming; the create
// form sets an expiry (a past one refused under its field), which the new
// cluster's page then shows with its warning.
import { childMark } from '../support/children.ts';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let server: ServerProcess;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
  // No reconciler: the page's forms and the API's answers are what is tested here (the scheduler: test/e2e/schedules.test.ts).
  server = await startServer({ env: { KUBEKLOUD_RECONCILER: 'false' } });
  profile = mkdtempSync(join(tmpdir(), 'kubekloud-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1000, height: 900 },
    env: { ...process.env, ...childMark() },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await server?.stop();
});

/** A datetime-local value `minutes` from now, in the browser's zone (the test's: they share the machine). */
function localIn(minutes: number): string {
  const d = new Date(Date.now() + minutes * 60_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

it('sets an expiry with its warning, refuses a bad cron under its field, adds and deletes a schedule', async () => {
  const tenant = await createTenant(server.admin, { cpu: 1, memory: 1 });
  const c = (await tenant.client.post('/api/v1/clusters/', { name: 'office', instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 1 })).body;
  const page = await context.newPage();
  const errors: string[] = [];
  // Every API answer of 400 and over: the one refusal asked for, nothing else.
  page.on('response', (r) => r.status() >= 400 && new URL(r.url()).pathname.startsWith('/api/') && errors.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`));
  await page.goto(`${server.url}/console/`);
  await page.getByLabel('API token').fill(tenant.client.token!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Signed in once the console shows its first page: only then does the token survive a navigation.
  await expect.poll(() => page.getByRole('heading', { level: 1 }).first().textContent()).toBe('Clusters');
  await page.goto(`${server.url}/console/clusters/${c.id}`);
  await expect.poll(() => page.locator('dd[data-expires]').getAttribute('data-expires')).toBe('never');

  await page.getByLabel('Expires at').fill(localIn(90));
  await page.getByLabel('Then').selectOption('delete');
  await page.getByRole('button', { name: 'Set expiry' }).click();
  await expect.poll(() => page.locator('[data-warning="expiring"]').textContent()).toMatch(/will then be deleted/);
  const set = (await tenant.client.get(`/api/v1/clusters/${c.id}`)).body;
  expect(set.expire_action).toBe('delete');
  expect(Math.abs(new Date(set.expires_at).getTime() - (Date.now() + 90 * 60_000))).toBeLessThan(120_000);
  expect(await page.locator('dd[data-expires]').textContent()).toMatch(/then deleted/);

  await page.getByLabel('Cron').fill('0 25 * * *');
  await page.getByLabel('Time zone').fill('Europe/Paris');
  await page.getByRole('button', { name: 'Add schedule' }).click();
  await expect.poll(() => page.locator('#schedule-cron-error').textContent()).toMatch(/hour/i);
  await page.getByLabel('Cron').fill('0 19 * * MON-FRI');
  await page.getByRole('button', { name: 'Add schedule' }).click();
  await expect.poll(() => page.getByTestId('schedules').locator('tbody tr').count()).toBe(1);
  expect(await page.getByTestId('schedules').textContent()).toContain('Europe/Paris');
  const [sched] = (await tenant.client.get(`/api/v1/clusters/${c.id}/schedules`)).body.items;
  expect(sched).toMatchObject({ action: 'stop', cron: '0 19 * * MON-FRI', time_zone: 'Europe/Paris' });

  await page.locator(`tr[data-schedule="${sched.id}"]`).getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect.poll(() => page.getByText('No schedules.').count()).toBe(1);

  await page.getByRole('button', { name: 'Never expire' }).click();
  await expect.poll(() => page.locator('dd[data-expires]').getAttribute('data-expires')).toBe('never');
  expect(await page.locator('[data-warning]').count()).toBe(0);
  expect(errors).toEqual([`422 POST /api/v1/clusters/${c.id}/schedules`]);
});

it('creates a cluster that expires from the create form, a past expiry refused under its field, and shows it on the cluster page', async () => {
  const tenant = await createTenant(server.admin, { cpu: 1, memory: 1 });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('response', (r) => r.status() >= 400 && new URL(r.url()).pathname.startsWith('/api/') && errors.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`));
  await page.goto(`${server.url}/console/`);
  await page.getByLabel('API token').fill(tenant.client.token!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).first().textContent()).toBe('Clusters');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Create cluster' }).click();
  await page.getByLabel('Name', { exact: true }).fill('nightly');
  await page.getByLabel('CPU per instance').fill('0.25');
  await page.getByLabel('Memory per instance').fill('0.25');
  // The action applies only with a time.
  expect(await page.getByLabel('At expiry').isDisabled()).toBe(true);

  // An hour ago: the API refuses the create, in its words under the field.
  await page.getByLabel('Expires at (optional)').fill(localIn(-60));
  await page.getByRole('button', { name: 'Create cluster' }).click();
  await expect.poll(() => page.locator('#f-expires_at-error').textContent()).toMatch(/must be in the future/);
  expect((await tenant.client.get('/api/v1/clusters/')).body).toEqual([]);

  await page.getByLabel('Expires at (optional)').fill(localIn(90));
  await page.getByLabel('At expiry').selectOption('delete');
  await expect.poll(() => page.getByTestId('quote-objects').count()).toBe(1);
  await page.getByRole('button', { name: 'Create cluster' }).click();
  await page.waitForURL(/\/console\/clusters\/\d+$/);
  const id = Number(/(\d+)$/.exec(page.url())![1]);
  const c = (await tenant.client.get(`/api/v1/clusters/${id}`)).body;
  expect(c.expire_action).toBe('delete');
  expect(Math.abs(new Date(c.expires_at).getTime() - (Date.now() + 90 * 60_000))).toBeLessThan(120_000);
  await expect.poll(() => page.locator('dd[data-expires]').getAttribute('data-expires')).toBe(c.expires_at);
  expect(await page.locator('dd[data-expires]').textContent()).toMatch(/then deleted$/);
  expect(await page.locator('[data-warning="expiring"]').textContent()).toMatch(/will then be deleted/);
  expect(errors).toEqual(['422 POST /api/v1/clusters/']);
});
