// The cluster page's expiry and power schedules, in headless Chromium against
// a real server: setting an expiry shows it and its warning, a bad cron
// expression is refused under its field in the API's words, a schedule is
// added with its next run and deleted after confirming.
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
