// The admin's control of users' tokens and the audit log, in headless Chromium
// against a real server: an admin lists a user's tokens and revokes one (the
// API then refuses it), disables the user and enables them again; reads the
// audit log filtered by user, action and time, with the API's refusal of a
// filter under its field; a tenant reads their own requests a page at a time.
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

/** A datetime-local value `minutes` from now, in the browser's zone (the test's: they share the machine). */
function localIn(minutes: number): string {
  const d = new Date(Date.now() + minutes * 60_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** The audit rows shown: id, actor and action of each. */
const auditRows = (page: Page) =>
  page.locator('tr[data-audit]').evaluateAll((rows) => rows.map((r) => [Number(r.getAttribute('data-audit')), r.getAttribute('data-actor'), r.getAttribute('data-action')]));

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

  // From the user's tokens to their requests in the audit log, newest first.
  await panel.getByRole('link', { name: 'Their requests in the audit log' }).click();
  await expect.poll(async () => (await auditRows(page)).map((r) => `${r[1]} ${r[2]}`)).toEqual([`${name} tokens.create`, `${name} tokens.create`, `${name} clusters.create`]);
  expect(await page.getByLabel('User').inputValue()).toBe(name);
  expect(refused).toEqual([]);
  await page.close();
});

it('lets an admin read the audit log filtered by user, action and time, and shows a refused filter under its field', async () => {
  const carol = await createTenant(server.admin, { cpu: 1, memory: 1 }, `carol-${suffix()}`);
  const dave = await createTenant(server.admin, { cpu: 1, memory: 1 }, `dave-${suffix()}`);
  const body = (name: string) => ({ name, instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 1 });
  expect((await carol.client.post('/api/v1/clusters/', body('alpha'))).status).toBe(201);
  expect((await carol.client.post('/api/v1/users/me/tokens', { name: 'laptop' })).status).toBe(201);
  expect((await dave.client.post('/api/v1/clusters/', body('beta'))).status).toBe(201);
  const carolName = carol.user.username as string;
  const expected = (await server.admin.get(`/api/v1/audit?user=${carolName}&action=clusters.create`)).body.items;
  expect(expected.map((e: { actor: string; action: string; outcome: string }) => [e.actor, e.action, e.outcome])).toEqual([[carolName, 'clusters.create', 'success']]);

  const { page, refused } = await openPage();
  await signIn(page, server.admin.token!);
  await nav(page, 'Audit log');
  await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Audit log');
  // Unfiltered: everyone's, newest first (dave's create is the latest).
  await expect.poll(async () => (await auditRows(page))[0]).toEqual([expect.any(Number), dave.user.username, 'clusters.create']);

  await page.getByLabel('User').fill(carolName);
  await page.getByLabel('Action').fill('clusters.create');
  const asked = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/audit' && new URL(r.url()).searchParams.get('action') === 'clusters.create');
  await page.getByRole('button', { name: 'Apply' }).click();
  expect(new URL((await asked).url()).searchParams.get('user')).toBe(carolName);
  await expect.poll(() => auditRows(page)).toEqual([[expected[0].id, carolName, 'clusters.create']]);
  expect(await page.locator(`tr[data-audit="${expected[0].id}"] td[data-label="Outcome"]`).textContent()).toBe('success 201');
  if (SHOTS) await page.screenshot({ path: join(SHOTS, 'audit.png') });
  // The filters are in the page's address: a reload shows the same.
  expect(new URL(page.url()).search).toBe(`?user=${carolName}&action=clusters.create`);
  await page.reload();
  await expect.poll(() => auditRows(page)).toEqual([[expected[0].id, carolName, 'clusters.create']]);
  expect(await page.getByLabel('User').inputValue()).toBe(carolName);

  // A time range: nothing before the server's first minute, carol's entry after it.
  await page.getByLabel('Before').fill(localIn(-60));
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect.poll(() => page.getByText('No entries match these filters.').count()).toBe(1);
  await page.getByLabel('Before').fill('');
  await page.getByLabel('From').fill(localIn(-60));
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect.poll(() => auditRows(page)).toEqual([[expected[0].id, carolName, 'clusters.create']]);

  // A resource the API does not know: its refusal, under the field.
  await page.getByLabel('Resource').fill('pods');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect.poll(() => page.locator('#audit-resource-error').textContent()).toContain('must be clusters, instances, users or images');
  expect(await page.locator('tr[data-audit]').count()).toBe(0);
  expect(refused).toEqual([expect.stringMatching(/^422 GET \/api\/v1\/audit\?.*resource=pods/)]);

  await page.getByRole('button', { name: 'Clear' }).click();
  await expect.poll(async () => (await auditRows(page))[0]).toEqual([expect.any(Number), dave.user.username, 'clusters.create']);
  expect(new URL(page.url()).search).toBe('');
  await page.close();
});

it('lets a tenant read their own requests, a page at a time', async () => {
  const erin = await createTenant(server.admin, { cpu: 1, memory: 1 }, `erin-${suffix()}`);
  const name = erin.user.username as string;
  // 52 entries: 51 refused token requests, then one cluster created.
  for (let i = 0; i < 51; i++) expect((await erin.client.post('/api/v1/users/me/tokens', { name: '-not a name' })).status).toBe(422);
  expect((await erin.client.post('/api/v1/clusters/', { name: 'mine', instance_type: 'container', cpu_per_instance: 0.25, memory_per_instance: 0.25, instance_count: 1 })).status).toBe(201);
  // A refused request is recorded once it has been answered: the last refusals may still be on their way.
  await expect.poll(async () => (await erin.client.get('/api/v1/users/me/audit?limit=100')).body.total).toBe(52);
  const all = (await erin.client.get('/api/v1/users/me/audit?limit=100')).body;

  const { page, refused } = await openPage();
  await signIn(page, erin.client.token!);
  const asked = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/users/me/audit');
  await nav(page, 'Audit log');
  expect((await asked).status()).toBe(200);
  // Their own: no user filter to choose.
  expect(await page.getByLabel('User').count()).toBe(0);
  await expect.poll(() => page.getByTestId('audit-range').textContent()).toBe('1–50 of 52');
  const first = await auditRows(page);
  expect(first.map((r) => r[0])).toEqual(all.items.slice(0, 50).map((e: { id: number }) => e.id));
  expect(first[0]).toEqual([all.items[0].id, name, 'clusters.create']);

  await page.getByRole('button', { name: 'Older' }).click();
  await expect.poll(() => page.getByTestId('audit-range').textContent()).toBe('51–52 of 52');
  await expect.poll(async () => (await auditRows(page)).map((r) => r[0])).toEqual(all.items.slice(50).map((e: { id: number }) => e.id));
  expect(new Set((await auditRows(page)).map((r) => `${r[1]} ${r[2]}`))).toEqual(new Set([`${name} tokens.create`]));
  await page.getByRole('button', { name: 'Newer' }).click();
  await expect.poll(() => page.getByTestId('audit-range').textContent()).toBe('1–50 of 52');

  // Only what succeeded: the cluster it created.
  await page.getByLabel('Outcome').selectOption('success');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect.poll(() => auditRows(page)).toEqual([[all.items[0].id, name, 'clusters.create']]);
  expect(refused).toEqual([]);
  await page.close();
});
