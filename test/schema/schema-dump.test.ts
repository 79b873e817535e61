import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeSchema } from '../../src/db/schema-describe.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

// docs/schema.txt is the reviewed picture of the schema; a migration that changes the
// schema without regenerating it (npm run schema:dump) fails here.
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

describe('committed schema dump', () => {
  it('matches the migrated database', async () => {
    const client = await t.admin.connect();
    try {
      const live = await describeSchema(client);
      const committed = readFileSync(new URL('../../docs/schema.txt', import.meta.url), 'utf8');
      expect(live).toBe(committed);
    } finally {
      client.release();
    }
  });
});
