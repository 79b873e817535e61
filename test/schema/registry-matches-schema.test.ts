import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { columnOf, STANDARD_OBJECTS, SYSTEM_FIELDS } from '../../src/objects/definitions.ts';
import { sqlType } from '../../src/objects/field-types.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

// The object declarations drive the application; the migrations create the tables.
// This keeps the two from drifting apart.
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

const COMPATIBLE: Record<string, string[]> = {
  text: ['text', 'character'],
  integer: ['integer'],
  numeric: ['numeric'],
  boolean: ['boolean'],
  date: ['date'],
  timestamptz: ['timestamp with time zone'],
  uuid: ['uuid'],
  'double precision': ['double precision'],
};

describe('object declarations match the database', () => {
  for (const obj of STANDARD_OBJECTS) {
    it(`${obj.name}: every declared field has a column of a compatible type`, async () => {
      const res = await t.admin.query<{ column_name: string; data_type: string; is_nullable: string }>(
        `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`,
        [obj.table],
      );
      const columns = new Map(res.rows.map((r) => [r.column_name, r]));
      for (const f of [...SYSTEM_FIELDS, ...obj.fields]) {
        const col = columns.get(columnOf(f));
        expect(col, `${obj.name}.${f.name} → column ${columnOf(f)}`).toBeDefined();
        expect(COMPATIBLE[sqlType(f.type)], `${obj.name}.${f.name}`).toContain(col?.data_type);
        if (f.required && !f.defaultValue) expect(col?.is_nullable, `${obj.name}.${f.name} NOT NULL`).toBe('NO');
      }
      for (const common of ['organization_id', 'custom', 'field_versions', 'search_vector']) expect(columns.has(common)).toBe(true);
    });
  }

  it('the request role owns no table and cannot bypass row-level security', async () => {
    const role = await t.admin.query("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'basalt_app'");
    expect(role.rows[0]).toEqual({ rolsuper: false, rolbypassrls: false });
    const owned = await t.admin.query("SELECT count(*)::int AS n FROM pg_tables WHERE tableowner = 'basalt_app'");
    expect(owned.rows[0].n).toBe(0);
    const unprotected = await t.admin.query(
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id'
       WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT c.relrowsecurity`,
    );
    expect(unprotected.rows.map((r) => r.relname)).toEqual([]);
  });
});
