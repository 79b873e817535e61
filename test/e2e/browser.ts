import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's Chromium (npm's own browser download does not work here; CI installs the package). */
export const CHROMIUM = process.env.BASALT_CHROMIUM ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const SCREENSHOTS = path.resolve(import.meta.dirname, '../../test-results/screenshots');
const WEB = path.resolve(import.meta.dirname, '../../web');

if (!HAVE_CHROMIUM) {
  const bar = '!'.repeat(78);
  process.stderr.write(
    `\n${bar}\n!! END-TO-END UI SUITE SKIPPED: no Chromium at ${CHROMIUM}.\n!! Install it with: apt-get install -y chromium  (CI does this in .ci/run)\n${bar}\n\n`,
  );
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** The suite drives the UI that the server serves from web/dist: (re)build it when missing or older than its sources. */
export function ensureWebBuilt(): void {
  const index = path.join(WEB, 'dist', 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= Math.max(newestSource(path.join(WEB, 'src')), statSync(path.join(WEB, 'index.html')).mtimeMs)) return;
  const res = spawnSync(process.execPath, [path.join(WEB, 'build.mjs')], { stdio: 'inherit' });
  if (res.status !== 0) throw new Error('building the web UI failed');
}

export async function launch(): Promise<Browser> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // As root Chromium needs --no-sandbox; the rest keeps it off the (closed) network.
  // Playwright gives every launch a fresh, empty profile directory.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

export interface Watched {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions seen so far. */
  errors: string[];
}

/**
 * A browser context whose console errors are collected. Chromium itself logs every 4xx
 * fetch as "Failed to load resource"; the statuses a test provokes on purpose are allowed.
 */
export async function watchedContext(browser: Browser, baseURL: string, opts: { viewport?: { width: number; height: number }; allowStatuses?: number[] } = {}): Promise<Watched> {
  const context = await browser.newContext({ baseURL, viewport: opts.viewport ?? { width: 1280, height: 800 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const errors: string[] = [];
  const allowed = new RegExp(`status of (${(opts.allowStatuses ?? [412]).join('|')})\\b`);
  page.on('console', (m) => {
    if (m.type() === 'error' && !allowed.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return { context, page, errors };
}

export async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage });
}

export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
}
