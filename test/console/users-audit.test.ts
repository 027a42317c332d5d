// The admin's control of users' tokens, in headless Chromium against a real
// server: an admin lists a user's tokens and revokes one (the API then refuses
// it), disables the user and enables them again.
// With CONSOLE_SCREENSHOTS=<dir> the pages are saved there as PNGs.
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

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
  // No reconciler: what is tested is the pages and the API's answers, not the clusters' workloads.
  server = await startServer({ env: { KUBEKLOUD_RECONCILER: 'false' } });
  profile = mkdtempSync(join(tmpdir(), 'kubekloud-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 900 },
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

const suffix = () => Math.random().toString(36).slice(2, 6);

/** A page that records every API answer of 400 and over. */
async function openPage(): Promise<{ page: Page; refused: string[] }> {
  const page = await context.newPage();
  const refused: string[] = [];
  page.on('response', (r) => {
    const url = new URL(r.url());
    if (r.status() >= 400 && url.pathname.startsWith('/api/')) refused.push(`${r.status()} ${r.request().method()} ${url.pathname}${url.search}`);
  });
  return { page, refused };
}

async function signIn(page: Page, token: string) {
  await page.goto(`${server.url}/console/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByRole('heading', { level: 1 }).first().textContent()).toBe('Clusters');
}

const nav = (page: Page, name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();

it("lets an admin list a user's tokens and revoke one, then disable the user and enable them again", async () => {
  const alice = await createTenant(server.admin, { cpu: 1, memory: 1 }, `alice-${suffix()}`);
  const name = alice.user.username as string;
  const cluster = await alice.client.post('/api/v1/clusters/', { name: 'web', instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 1 });
  expect(cluster.status, JSON.stringify(cluster.body)).toBe(201);
  const ci = await alice.client.post('/api/v1/users/me/tokens', { name: 'ci', scopes: ['read'], cluster_ids: [cluster.body.id], expires_in_days: 30 });
  const deploy = await alice.client.post('/api/v1/users/me/tokens', { name: 'deploy' });
  expect([ci.status, deploy.status]).toEqual([201, 201]);
  const asCi = alice.client.withToken(ci.body.token);
  const asDeploy = alice.client.withToken(deploy.body.token);
  expect((await asCi.get('/api/v1/users/me')).status).toBe(200);

  const { page, refused } = await openPage();
  await signIn(page, server.admin.token!);
  await nav(page, 'Users & quotas');
  await page.getByRole('button', { name: `Tokens of ${name}` }).click();
  const panel = page.locator(`section[data-tokens-of="${name}"]`);
  await expect.poll(() => panel.locator('tr[data-token]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-token')).sort())).toEqual(
    expect.arrayContaining(['ci', 'deploy']),
  );
  const ciRow = panel.locator('tr[data-token="ci"]');
  expect(await ciRow.locator('td[data-label="Scopes"]').textContent()).toBe('read');
  expect(await ciRow.locator('td[data-label="Clusters"]').textContent()).toBe(String(cluster.body.id));
  expect(await ciRow.locator('td[data-label="Expires"]').textContent()).not.toBe('never');
  expect(await ciRow.locator('td[data-label="Last used"]').textContent()).not.toBe('never');
  expect(await panel.locator('tr[data-token="deploy"] td[data-label="Clusters"]').textContent()).toBe('all');
  if (SHOTS) await page.screenshot({ path: join(SHOTS, 'user-tokens.png') });

  // Revoke asks first; the token is refused from its next request on, the others still work.
  await panel.getByRole('button', { name: 'Revoke ci' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await expect.poll(() => panel.locator('tr[data-token="ci"]').count()).toBe(0);
  expect(await panel.getByRole('status').textContent()).toBe(`Token ci of ${name} revoked.`);
  expect((await asCi.get('/api/v1/users/me')).status).toBe(401);
  expect((await asDeploy.get('/api/v1/users/me')).status).toBe(200);
  expect(await panel.locator('tr[data-token="deploy"]').count()).toBe(1);

  // Disable: every token of theirs is refused, in the API's words; enable: accepted again.
  const row = page.locator(`tr[data-user="${name}"]`);
  await page.getByRole('button', { name: `Disable ${name}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
  await expect.poll(() => row.getAttribute('data-disabled')).toBe('true');
  const off = await asDeploy.get('/api/v1/users/me');
  expect(off.status).toBe(401);
  expect(off.body.detail).toMatch(/disabled/);
  expect((await alice.client.get('/api/v1/users/me')).status).toBe(401);
  await page.getByRole('button', { name: `Enable ${name}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Enable' }).click();
  await expect.poll(() => row.getAttribute('data-disabled')).toBe('false');
  expect((await asDeploy.get('/api/v1/users/me')).status).toBe(200);
  expect((await asCi.get('/api/v1/users/me')).status).toBe(401);
  expect(refused).toEqual([]);
  await page.close();
});
