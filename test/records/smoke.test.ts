import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

describe('smoke', () => {
  it('creates and reads an account', async () => {
    const created = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: 'Acme' } });
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBe('"1"');
    const got = await t.request('GET', `/api/v1/accounts/${created.body.id}`, { token: t.org.token });
    expect(got.body.name).toBe('Acme');
  });
});
