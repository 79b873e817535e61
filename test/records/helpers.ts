import { sealAudit } from '../support/harness.ts';
import { expect } from 'vitest';
import type { HttpResult, TestApp } from '../support/harness.ts';

/** Small factories and assertions shared by the records tests. */

export const OBJECTS = ['accounts', 'contacts', 'leads', 'opportunities', 'cases', 'activities'] as const;
export type ObjectName = (typeof OBJECTS)[number];

export const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const MISSING_ID = '01900000-0000-7000-8000-000000000000';

/** Per object: a valid create body, one text field to edit, another field to edit, a wrongly typed value. */
export const SAMPLES: Record<
  ObjectName,
  { create: Record<string, unknown>; edit: [string, unknown, unknown]; other: [string, unknown]; wrong: [string, unknown]; required: string }
> = {
  accounts: {
    create: { name: 'Acme', employees: 10, annualRevenue: '1250.5', industry: 'banking' },
    edit: ['name', 'Acme Two', 'Acme Three'],
    other: ['employees', 20],
    wrong: ['employees', 'ten'],
    required: 'name',
  },
  contacts: {
    create: { firstName: 'Jan', lastName: 'Smith', email: 'jan@example.com' },
    edit: ['title', 'CTO', 'CEO'],
    other: ['phone', '+1 555 0100'],
    wrong: ['email', 'not-an-email'],
    required: 'lastName',
  },
  leads: {
    create: { lastName: 'Lee', company: 'Lee Ltd', source: 'web' },
    edit: ['company', 'Lee Two', 'Lee Three'],
    other: ['status', 'working'],
    wrong: ['status', 'bogus'],
    required: 'lastName',
  },
  opportunities: {
    create: { name: 'Big deal', amount: '1000', currency: 'EUR', closeDate: '2026-03-01' },
    edit: ['name', 'Bigger deal', 'Biggest deal'],
    other: ['probability', 40],
    wrong: ['closeDate', '2026-02-30'],
    required: 'name',
  },
  cases: {
    create: { subject: 'Broken', priority: 'high' },
    edit: ['subject', 'Still broken', 'Fixed?'],
    other: ['priority', 'urgent'],
    wrong: ['priority', 7],
    required: 'subject',
  },
  activities: {
    create: { subject: 'Call Jan', type: 'call', dueAt: '2026-04-01T09:30:00Z' },
    edit: ['subject', 'Call Jan again', 'Email Jan'],
    other: ['body', 'notes'],
    wrong: ['dueAt', 'tomorrow'],
    required: 'subject',
  },
};

export class Api {
  readonly t: TestApp;
  readonly token: string;
  constructor(t: TestApp, token: string) {
    this.t = t;
    this.token = token;
  }
  get<T = any>(path: string, headers?: Record<string, string>): Promise<HttpResult<T>> {
    return this.t.request<T>('GET', path, { token: this.token, headers });
  }
  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResult<T>> {
    return this.t.request<T>('POST', path, { token: this.token, body, headers });
  }
  patch<T = any>(path: string, body: unknown, ifMatch?: string | number): Promise<HttpResult<T>> {
    const headers = ifMatch === undefined ? undefined : { 'if-match': typeof ifMatch === 'number' ? `"${ifMatch}"` : ifMatch };
    return this.t.request<T>('PATCH', path, { token: this.token, body, headers });
  }
  delete<T = any>(path: string, ifMatch?: string | number): Promise<HttpResult<T>> {
    const headers = ifMatch === undefined ? undefined : { 'if-match': typeof ifMatch === 'number' ? `"${ifMatch}"` : ifMatch };
    return this.t.request<T>('DELETE', path, { token: this.token, headers });
  }
  /** Creates a record and returns it (fails the test on anything but 201). */
  async create(object: string, body: Record<string, unknown>): Promise<Record<string, any>> {
    const res = await this.post(`/api/v1/${object}`, body);
    if (res.status !== 201) throw new Error(`create ${object} failed: ${res.status} ${res.text}`);
    return res.body;
  }
  /** Every record of a list, following cursors. */
  async listAll(object: string, query = ''): Promise<Record<string, any>[]> {
    const out: Record<string, any>[] = [];
    let cursor: string | null = null;
    do {
      const sep: string = query ? '&' : '';
      const res: HttpResult = await this.get(`/api/v1/${object}?${query}${sep}limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status, res.text).toBe(200);
      out.push(...res.body.data);
      cursor = res.body.nextCursor;
    } while (cursor);
    return out;
  }
}

/** An RFC 9457 answer with the given status and code; never a stack trace. */
export function expectProblem(res: HttpResult, status: number, code?: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.headers.get('x-request-id')).toBeTruthy();
  expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), code: expect.any(String) });
  if (code) expect(res.body.code).toBe(code);
  expectNoLeak(res.text);
}

export function expectNoLeak(text: string): void {
  expect(text).not.toMatch(/\bat .+\.(ts|js):\d+|node_modules|"stack"|syntax error at|violates .* constraint|relation ".*" does not exist|invalid input syntax/i);
}

/** The paths of a validation_failed answer. */
export function errorPaths(res: HttpResult): string[] {
  expectProblem(res, 400, 'validation_failed');
  expect(Array.isArray(res.body.errors)).toBe(true);
  return (res.body.errors as { path: string }[]).map((e) => e.path);
}

const COUNTED = [
  'accounts',
  'contacts',
  'leads',
  'opportunities',
  'cases',
  'activities',
  'audit_log',
  'outbox',
  'field_definitions',
] as const;

/** Row counts of every table a write could touch (superuser: all tenants, deleted rows included). */
export async function tableCounts(t: TestApp): Promise<Record<string, number>> {
  await sealAudit(t.admin);
  const res = await t.admin.query(
    `SELECT ${COUNTED.map((c) => `(SELECT count(*) FROM ${c})::int AS ${c}`).join(', ')},
            (SELECT coalesce(sum(version), 0) FROM accounts)::int AS account_versions`,
  );
  return res.rows[0];
}
