// The web console's image catalogue, in headless Chromium against a real
// server: an admin adds an image (the API's refusal of a bad source shown
// beside the field) and retires one; a tenant sees the catalogue, and the
// create-cluster form offers its images of the chosen kind, checks their
// minimums and creates a cluster from one.
import { childMark } from '../support/children.ts';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTenant, startServer, type ServerProcess } from '../support/server.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let server: ServerProcess;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
  server = await startServer();
  profile = mkdtempSync(join(tmpdir(), 'kubekloud-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1000, height: 660 },
    env: { ...process.env, ...childMark() },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await server?.stop();
});

async function signIn(page: Page, token: string) {
  await page.goto(`${server.url}/console/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).first().textContent()).toBe('Clusters');
}

it('admins add and retire images; tenants create clusters from the catalogue', async () => {
  const suffix = Math.random().toString(36).slice(2, 6);
  const app = `web-${suffix}`;
  const old = `old-${suffix}`;
  expect((await server.admin.post('/api/v1/images/', { name: old, kind: 'container', source: 'registry.example/old:1' })).status).toBe(201);

  const admin = await context.newPage();
  await signIn(admin, server.admin.token!);
  await admin.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Images' }).click();
  await expect.poll(() => admin.getByRole('heading', { level: 1 }).first().textContent()).toBe('Images');
  await admin.getByLabel('Name', { exact: true }).fill(app);
  await admin.getByLabel('Source').fill('https://example.com/app.tar');
  await admin.getByLabel('Minimum CPU (cores)').fill('0.5');
  await admin.getByRole('button', { name: 'Add image' }).click();
  // The API's own words beside the field, the input kept.
  await expect.poll(() => admin.locator('#img-source-error').textContent()).toContain('container image reference');
  expect(await admin.getByLabel('Name', { exact: true }).inputValue()).toBe(app);
  await admin.getByLabel('Source').fill('docker.io/nginxinc/nginx-unprivileged:1.27-alpine');
  await admin.getByRole('button', { name: 'Add image' }).click();
  await expect.poll(() => admin.locator(`tr[data-image="${app}"]`).count()).toBe(1);
  await admin.getByRole('button', { name: `Retire ${old}` }).click();
  await admin.getByRole('dialog').getByRole('button', { name: 'Retire' }).click();
  await expect.poll(() => admin.locator(`tr[data-image="${old}"]`).textContent()).toContain('retired');
  expect((await server.admin.get(`/api/v1/images/${old}`)).body.retired).toBe(true);
  await admin.close();

  const tenant = await createTenant(server.admin, { cpu: 2, memory: 2, instances: 2 }, `ivy-${suffix}`);
  const page = await context.newPage();
  await signIn(page, tenant.client.token!);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Images' }).click();
  await expect.poll(() => page.locator(`tr[data-image="${app}"]`).count()).toBe(1);
  expect(await page.locator(`tr[data-image="${old}"]`).count()).toBe(0);
  expect(await page.getByRole('button', { name: 'Add image' }).count()).toBe(0);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Create cluster' }).click();
  await page.getByLabel('Name', { exact: true }).fill('fromcat');
  await page.getByLabel('CPU per instance').fill('0.25');
  await expect.poll(() => page.locator(`#f-catalogue option[value="${app}"]`).count()).toBe(1);
  expect(await page.locator(`#f-catalogue option[value="${old}"]`).count()).toBe(0);
  await page.getByLabel('Image', { exact: true }).selectOption(app);
  await page.getByRole('button', { name: 'Create cluster' }).click();
  await expect.poll(() => page.locator('#f-cpu_per_instance-error').textContent()).toContain(`At least 0.5 cores for ${app}`);
  await page.getByLabel('CPU per instance').fill('0.5');
  await page.getByRole('button', { name: 'Create cluster' }).click();
  await page.waitForURL(/\/console\/clusters\/\d+$/);
  const id = Number(/(\d+)$/.exec(page.url())![1]);
  const cluster = (await tenant.client.get(`/api/v1/clusters/${id}`)).body;
  expect(cluster).toMatchObject({ name: 'fromcat', image: app, image_source: 'docker.io/nginxinc/nginx-unprivileged:1.27-alpine' });
  await tenant.client.delete(`/api/v1/clusters/${id}`);
  await page.close();
}, 300_000);
