// /redoc in a real browser: ReDoc renders the API's own OpenAPI document from
// the bundle the API serves, under the CSP that route gets, with nothing
// refused by that CSP but an outside image, and nothing fetched from another origin.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { childMark } from '../support/children.ts';
import { startServer, type ServerProcess } from '../support/server.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let server: ServerProcess;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
  server = await startServer({ embedded: true });
  profile = mkdtempSync(join(tmpdir(), 'kubekloud-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    env: { ...process.env, ...childMark() },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await server?.stop();
});

it('renders the OpenAPI document with ReDoc, loading nothing from elsewhere and breaking no CSP rule', { timeout: 60_000 }, async () => {
  const page = await context.newPage();
  const problems: string[] = [];
  const elsewhere: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('requestfinished', (r) => {
    if (!r.url().startsWith(server.url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) elsewhere.push(r.url());
  });
  await page.goto(`${server.url}/redoc`);
  // ReDoc's title and the operations it lists come from /openapi.json.
  await expect.poll(() => page.locator('h1').first().textContent(), { timeout: 30_000 }).toContain('KubeKloud API');
  await expect.poll(async () => (await page.content()).includes('Create a cluster'), { timeout: 10_000 }).toBe(true);
  // ReDoc's footer asks for its maker's logo from their CDN: the CSP blocks it (ReDoc
  // then leaves the image out). Nothing else may be refused: scripts, styles, the worker.
  const refused = problems.filter((p) => /Content Security Policy|Refused/.test(p));
  expect(refused.filter((p) => !p.startsWith("Loading the image 'https://cdn.redoc.ly/")), refused.join('\n')).toEqual([]);
  expect(elsewhere).toEqual([]);
  await page.close();
});
