import { generate } from 'otplib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';
import { ensureWebBuilt, HAVE_CHROMIUM, launch, shot, signIn, type Watched, watchedContext } from './browser.ts';

/**
 * The web UI in real Chromium against a real server and database: what a salesperson and a
 * support agent do all day. Screenshots of the main screens go to test-results/screenshots/.
 * Access tokens live 30 s here, so the suite only passes if the UI refreshes its session.
 */
describe.skipIf(!HAVE_CHROMIUM)('web UI end to end (Chromium)', () => {
  let t: TestApp;
  let browser: Browser;
  let a: Watched;
  let page: Page;
  let firstToken = '';
  let signedInAt = 0;
  const ids: { account?: string; contact?: string; opportunity?: string } = {};

  const token = () => t.login(t.org.email, t.org.password);
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await t.request(method, path, { token: await token(), body });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return res.body;
  };
  const idFromUrl = (p: Page) => new URL(p.url()).pathname.split('/').pop() ?? '';
  const storedSession = (p: Page) => p.evaluate(() => JSON.parse(localStorage.getItem('basalt.session') ?? 'null') as { accessToken: string } | null);

  beforeAll(async () => {
    ensureWebBuilt();
    t = await startTestApp({ BASALT_ACCESS_TOKEN_TTL_SECONDS: '30' });
    browser = await launch();
    a = await watchedContext(browser, t.url);
    page = a.page;
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('signs in and lands on the dashboard', async () => {
    await page.goto('/');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Enter your email and password.').waitFor();
    await page.getByLabel('Email').fill(t.org.email);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: /wrong email or password/i }).waitFor();
    await shot(page, '01-sign-in');
    // Chromium logs the provoked 401 as a console error; nothing else may have been logged.
    expect(a.errors).toEqual([expect.stringContaining('status of 401')]);
    a.errors.length = 0;
    await signIn(page, t.org.email, t.org.password);
    signedInAt = Date.now();
    firstToken = (await storedSession(page))?.accessToken ?? '';
    expect(firstToken).not.toBe('');
    // Navigation is generated from the metadata.
    for (const name of ['Accounts', 'Contacts', 'Leads', 'Opportunities', 'Cases', 'Activities', 'Pipeline', 'Case queue']) {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).waitFor();
    }
  });

  it('signs in a user who has MFA with the code step, and shows only what their role may use', async () => {
    const password = 'rep password 123456';
    const rep = await api('POST', '/api/v1/users', { email: 'rep-mfa@example.com', name: 'Rita Rep', role: 'rep', password });
    const repToken = await t.login(rep.email, password);
    const enrolled = await t.request('POST', '/api/v1/auth/mfa/enroll', { token: repToken });
    const totp = (offset: number) => generate({ secret: enrolled.body.secret, epoch: Math.floor(Date.now() / 1000) + offset * 30 });
    const confirmed = await t.request('POST', '/api/v1/auth/mfa/confirm', { token: repToken, body: { code: await totp(-1) } });
    expect(confirmed.status).toBe(200);

    const c = await watchedContext(browser, t.url);
    try {
      await c.page.goto('/');
      await c.page.getByLabel('Email').fill(rep.email);
      await c.page.getByLabel('Password').fill(password);
      await c.page.getByRole('button', { name: 'Sign in' }).click();
      await c.page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
      await c.page.getByLabel('Code', { exact: true }).fill(await totp(0));
      await shot(c.page, '01b-mfa-step');
      await c.page.getByRole('button', { name: 'Verify' }).click();
      await c.page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
      const nav = c.page.getByRole('navigation', { name: 'Main' });
      await nav.getByRole('link', { name: 'Leads', exact: true }).waitFor();
      expect(await nav.getByRole('link', { name: 'Users', exact: true }).count()).toBe(0); // not an admin
      // Sign out from the user menu.
      await c.page.getByRole('button', { name: /Rita Rep/ }).click();
      await c.page.getByRole('menuitem', { name: 'Sign out' }).click();
      await c.page.getByRole('heading', { name: 'Sign in' }).waitFor();
      expect(c.errors).toEqual([]);
    } finally {
      await c.context.close();
    }
  });

  it('creates an account, a contact on it and an opportunity', async () => {
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Accounts', exact: true }).click();
    await page.getByText('No accounts yet.').waitFor();
    await page.getByRole('link', { name: 'New account' }).click();
    // Client-side validation mirrors the server's and puts the message on the field.
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Account name is required').waitFor();
    expect(await page.getByLabel(/^Account name/).getAttribute('aria-invalid')).toBe('true');
    await page.getByLabel(/^Account name/).fill('Globex E2E');
    await page.getByLabel(/^Employees/).fill('1200');
    await page.getByLabel(/^Industry/).selectOption('manufacturing');
    await shot(page, '02-account-form');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Globex E2E', level: 1 }).waitFor();
    ids.account = idFromUrl(page);

    await page.getByRole('link', { name: 'New contact' }).click();
    await page.getByLabel(/^First name/).fill('Ada');
    await page.getByLabel(/^Last name/).fill('Lovelace-Zeta');
    await page.getByLabel(/^Email/).fill('ada@globex.example');
    // The account comes preset from the related list and shows its name.
    await expect.poll(() => page.getByRole('combobox', { name: 'Account' }).inputValue(), { timeout: 15_000 }).toBe('Globex E2E');
    await page.getByRole('button', { name: 'Create contact' }).click();
    await page.getByRole('heading', { name: 'Ada Lovelace-Zeta', level: 1 }).waitFor();
    ids.contact = idFromUrl(page);
    await page.getByRole('link', { name: 'Globex E2E' }).first().waitFor();

    await page.goto(`/o/accounts/${ids.account}`);
    await page.getByRole('link', { name: 'New opportunity' }).click();
    await page.getByLabel(/^Opportunity name/).fill('Globex expansion');
    await page.getByLabel(/^Amount/).fill('50000');
    await page.getByLabel(/^Currency/).fill('EUR');
    await page.getByLabel(/^Close date/).fill(new Date().toISOString().slice(0, 10));
    await page.getByRole('button', { name: 'Create opportunity' }).click();
    await page.getByRole('heading', { name: 'Globex expansion', level: 1 }).waitFor();
    ids.opportunity = idFromUrl(page);
    const opp = await api('GET', `/api/v1/opportunities/${ids.opportunity}`);
    expect(opp).toMatchObject({ name: 'Globex expansion', amount: '50000.00', currency: 'EUR', stage: 'prospecting', accountId: ids.account });

    // The account page lists both in its related lists, and its timeline shows the creation.
    await page.goto(`/o/accounts/${ids.account}`);
    await page.getByRole('link', { name: 'Ada Lovelace-Zeta' }).waitFor();
    await page.getByRole('link', { name: 'Globex expansion' }).waitFor();
    await page.getByText('Created this account').waitFor();
    await page.getByPlaceholder(/Log a call/).fill('Kick-off call with Ada');
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByRole('link', { name: 'Kick-off call with Ada' }).waitFor();
    await shot(page, '03-account-record', true);
  });

  it('moves the opportunity on the kanban by drag and drop', async () => {
    await page.goto('/pipeline');
    const card = page.locator(`li.kcard[data-id="${ids.opportunity}"]`);
    await card.waitFor();
    expect(await page.getByTestId('amount-prospecting').textContent()).toMatch(/50,000/);
    await card.dragTo(page.locator('section[data-stage="proposal"]'));
    await page.getByText('“Globex expansion” moved to Proposal.').waitFor();
    await page.locator(`section[data-stage="proposal"] li.kcard[data-id="${ids.opportunity}"]`).waitFor();
    await expect.poll(async () => (await api('GET', `/api/v1/opportunities/${ids.opportunity}`)).stage, { timeout: 15_000 }).toBe('proposal');
    expect(await page.getByTestId('amount-proposal').textContent()).toMatch(/50,000/);
    await shot(page, '04-pipeline');
  });

  it('two people editing the same field get the conflict dialog, never a silent overwrite', async () => {
    const b = await watchedContext(browser, t.url);
    try {
      // The second person signs in with the keyboard only.
      await b.page.goto('/');
      await b.page.getByLabel('Email').focus();
      await b.page.keyboard.type(t.org.email);
      await b.page.keyboard.press('Tab');
      await b.page.keyboard.type(t.org.password);
      await b.page.keyboard.press('Enter');
      await b.page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();

      const url = `/o/opportunities/${ids.opportunity}`;
      await page.goto(url);
      await b.page.goto(url);
      await page.getByRole('heading', { name: 'Globex expansion', level: 1 }).waitFor();
      await b.page.getByRole('heading', { name: 'Globex expansion', level: 1 }).waitFor();

      await page.getByRole('button', { name: 'Edit Opportunity name' }).click();
      await page.getByRole('textbox', { name: 'Opportunity name' }).fill('Globex expansion (A)');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByRole('heading', { name: 'Globex expansion (A)', level: 1 }).waitFor();

      await b.page.getByRole('button', { name: 'Edit Opportunity name' }).click();
      await b.page.getByRole('textbox', { name: 'Opportunity name' }).fill('Globex expansion (B)');
      await b.page.getByRole('button', { name: 'Save', exact: true }).click();
      const dialog = b.page.getByRole('dialog', { name: 'Someone else changed this record' });
      await dialog.waitFor();
      expect(await dialog.getByTestId('yours-name').textContent()).toBe('Globex expansion (B)');
      expect(await dialog.getByTestId('theirs-name').textContent()).toBe('Globex expansion (A)');
      // Nothing was written while the dialog is open.
      expect((await api('GET', `/api/v1/opportunities/${ids.opportunity}`)).name).toBe('Globex expansion (A)');
      await shot(b.page, '05-conflict-dialog');

      await dialog.getByRole('radio', { name: /Keep my value/ }).check();
      await dialog.getByRole('button', { name: 'Save my choices' }).click();
      await b.page.getByRole('heading', { name: 'Globex expansion (B)', level: 1 }).waitFor();
      expect((await api('GET', `/api/v1/opportunities/${ids.opportunity}`)).name).toBe('Globex expansion (B)');
      // Both changes are in the field history on the timeline.
      await b.page.getByText('Globex expansion (A)').first().waitFor();
      expect(b.errors).toEqual([]);
    } finally {
      await b.context.close();
    }
  });

  it('global search (Ctrl+K) finds the new contact', async () => {
    await page.goto('/');
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
    await page.keyboard.press('Control+k');
    const dialog = page.getByRole('dialog', { name: 'Search' });
    await dialog.getByRole('combobox', { name: 'Search records' }).fill('lovelace');
    const hit = dialog.getByRole('option').filter({ hasText: 'Ada Lovelace-Zeta' });
    await hit.waitFor();
    await shot(page, '06-search');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Ada Lovelace-Zeta', level: 1 }).waitFor();
    expect(idFromUrl(page)).toBe(ids.contact);
  });

  it('a custom field added through the API appears in the form and the list', async () => {
    await api('POST', '/api/v1/metadata/objects/accounts/fields', { name: 'region', label: 'Sales region', type: 'picklist', options: ['EMEA', 'AMER', 'APAC'] });
    await page.goto('/o/accounts/new');
    await page.getByLabel(/^Account name/).fill('Initech E2E');
    await page.getByLabel(/^Sales region/).selectOption('APAC');
    await shot(page, '07-custom-field-form');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Initech E2E', level: 1 }).waitFor();
    expect((await api('GET', `/api/v1/accounts/${idFromUrl(page)}`)).region).toBe('APAC');

    await page.goto('/o/accounts');
    const table = page.getByRole('table', { name: 'Accounts' });
    await table.getByRole('link', { name: 'Initech E2E' }).waitFor();
    if (!(await table.getByRole('columnheader', { name: /Sales region/ }).count())) {
      await page.getByRole('button', { name: 'Columns' }).click();
      await page.getByRole('checkbox', { name: /Sales region/ }).check();
    }
    await table.getByRole('columnheader', { name: /Sales region/ }).waitFor();
    await table.getByRole('row').filter({ hasText: 'Initech E2E' }).getByText('APAC').waitFor();
    // Filter by the custom field with the API's operators.
    await page.getByRole('button', { name: /^Filters/ }).click();
    await page.getByRole('button', { name: 'Add filter' }).click();
    await page.getByRole('combobox', { name: 'Field' }).selectOption('region');
    await page.getByRole('combobox', { name: 'Value' }).selectOption('APAC');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => table.getByRole('row').count(), { timeout: 15_000 }).toBe(2); // header + Initech
    await page.getByText('1 account matching the filters').waitFor(); // GET /accounts/count
    await shot(page, '08-list-custom-field');
    // Saved views live on the server: the view is there for this user, not just in this browser.
    await page.getByRole('button', { name: 'Save view' }).click();
    await page.getByRole('textbox', { name: 'View name' }).fill('APAC accounts');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('View “APAC accounts” saved.').waitFor();
    const views = await api('GET', '/api/v1/views?object=accounts');
    expect(views.data).toEqual([
      expect.objectContaining({ name: 'APAC accounts', definition: expect.objectContaining({ filters: [{ field: 'region', op: 'eq', value: 'APAC' }] }) }),
    ]);
  });

  it('converts a lead into an account, contact and opportunity', async () => {
    const lead = await api('POST', '/api/v1/leads', { firstName: 'Grace', lastName: 'Hopper-E2E', company: 'Hooli E2E', email: 'grace@hooli.example' });
    await page.goto(`/o/leads/${lead.id}`);
    await page.getByRole('button', { name: 'Convert lead' }).click();
    const dialog = page.getByRole('dialog', { name: 'Convert lead' });
    await dialog.getByLabel('Opportunity name').fill('Hooli first deal');
    await shot(page, '09-lead-convert');
    await dialog.getByRole('button', { name: 'Convert' }).click();
    await page.getByRole('heading', { name: 'Hooli first deal', level: 1 }).waitFor();
    const after = await api('GET', `/api/v1/leads/${lead.id}`);
    expect(after.status).toBe('converted');
  });

  it('shows the case queue and dashboards with data', async () => {
    const today = new Date().toISOString().slice(0, 10);
    await api('POST', '/api/v1/opportunities', { name: 'Won deal', stage: 'closed_won', amount: '12000', currency: 'EUR', closeDate: today, accountId: ids.account });
    await api('POST', '/api/v1/opportunities', { name: 'Another win', stage: 'closed_won', amount: '8000', currency: 'EUR', closeDate: today });
    await api('POST', '/api/v1/opportunities', { name: 'Lost deal', stage: 'closed_lost', amount: '3000', currency: 'EUR', closeDate: today });
    for (const [subject, status, priority] of [
      ['Printer on fire', 'new', 'urgent'],
      ['Invoice question', 'open', 'low'],
      ['Login trouble', 'pending', 'high'],
      ['Old issue', 'closed', 'medium'],
    ]) {
      await api('POST', '/api/v1/cases', { subject, status, priority, accountId: ids.account });
    }

    await page.goto('/queue');
    const cases = page.getByRole('table', { name: 'Cases' });
    await cases.getByRole('link', { name: 'Printer on fire' }).waitFor();
    expect(await cases.getByRole('link', { name: 'Old issue' }).count()).toBe(0); // closed: not in the queue
    await expect.poll(() => cases.getByRole('row').nth(1).textContent(), { timeout: 15_000 }).toContain('Printer on fire'); // urgent first
    await shot(page, '10-case-queue');

    await page.goto('/');
    await expect.poll(() => page.getByTestId('win-rate').textContent(), { timeout: 15_000 }).toBe('67%');
    await page.getByTestId('chart-pipeline').locator('svg.recharts-surface').first().waitFor();
    await page.getByTestId('chart-winrate').locator('svg.recharts-surface').first().waitFor();
    await page.getByTestId('chart-cases').locator('svg.recharts-surface').first().waitFor();
    await page.getByRole('link', { name: 'Globex expansion (B)' }).waitFor(); // closing this quarter
    await shot(page, '11-dashboard', true);
  });

  it('admin pages list users, custom fields and API keys', async () => {
    await page.goto('/admin/users');
    await page.getByRole('table', { name: 'Users' }).getByText(t.org.email).waitFor();
    await shot(page, '12-admin-users');
    await page.goto('/admin/fields');
    await page.getByRole('cell', { name: 'Sales region' }).waitFor();
    await page.goto('/admin/api-keys');
    await page.getByLabel('Name').fill('E2E integration');
    await page.getByRole('button', { name: 'Create key' }).click();
    expect(await page.getByTestId('new-api-key').textContent()).toMatch(/^bsk_/);
    await page.getByRole('button', { name: 'I have copied it' }).click();
    await page.getByRole('cell', { name: 'E2E integration' }).waitFor();
  });

  it('the Resilience screen shows a chaos result stored through the API', async () => {
    const at = new Date().toISOString();
    await api('POST', '/api/v1/resilience/experiments', {
      runId: 'e2e-run',
      experiment: 'e2e-api-node-kill',
      title: 'E2E: an API node is killed',
      hypothesis: 'Clients lose no acknowledged write.',
      passed: true,
      startedAt: at,
      finishedAt: at,
      metrics: { requests: 321, clientErrors: 0, errorRate: 0, p50Ms: 10, p99Ms: 90, maxMs: 150, writesLost: 0, writesDuplicated: 0 },
      details: { checks: [{ name: 'acknowledged writes lost = 0', ok: true, detail: '0 lost' }] },
    });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Resilience', exact: true }).click();
    const row = page.getByRole('table', { name: 'Experiment results' }).getByRole('row').filter({ hasText: 'E2E: an API node is killed' });
    await row.getByText('PASS', { exact: true }).waitFor();
    await page.getByRole('list', { name: /results of e2e-api-node-kill/ }).waitFor();
    await shot(page, '12b-resilience');
    // At phone width the table becomes cards and nothing scrolls sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await row.getByText('PASS', { exact: true }).waitFor();
      await shot(page, '12c-phone-resilience', true);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  it('works at phone width', async () => {
    const phone = await watchedContext(browser, t.url, { viewport: { width: 390, height: 844 } });
    try {
      await signIn(phone.page, t.org.email, t.org.password);
      await shot(phone.page, '13-phone-dashboard', true);
      await phone.page.getByRole('button', { name: 'Menu' }).click();
      await phone.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Opportunities', exact: true }).click();
      await phone.page.getByRole('link', { name: 'Globex expansion (B)' }).waitFor();
      await shot(phone.page, '14-phone-list');
      await phone.page.getByRole('link', { name: 'Globex expansion (B)' }).click();
      await phone.page.getByRole('heading', { name: 'Globex expansion (B)', level: 1 }).waitFor();
      await shot(phone.page, '15-phone-record', true);
      const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
      expect(width).toBeLessThanOrEqual(390);
      expect(phone.errors).toEqual([]);
    } finally {
      await phone.context.close();
    }
  });

  it('kept the session alive by refreshing it, with no console errors all along', async () => {
    // Access tokens live 30 s here; the UI must have refreshed at least once without a sign-out.
    const waitMs = 27_000 - (Date.now() - signedInAt);
    if (waitMs > 0) await page.waitForTimeout(waitMs);
    await page.goto('/o/contacts');
    await page.getByRole('table', { name: 'Contacts' }).getByRole('link', { name: 'Ada Lovelace-Zeta' }).waitFor();
    const now = await storedSession(page);
    expect(now?.accessToken).toBeTruthy();
    expect(now?.accessToken).not.toBe(firstToken);
    expect(a.errors).toEqual([]);
  });
});
