import type pg from 'pg';

/**
 * A deterministic, version-independent text description of the schema (tables, columns,
 * indexes, policies, functions, triggers, grants), committed as docs/schema.txt so every
 * schema change shows in review. Catalog queries rather than pg_dump: the same text on
 * PostgreSQL 15 and on the embedded server, and no client binaries needed.
 */
export async function describeSchema(client: pg.Client | pg.PoolClient): Promise<string> {
  const out: string[] = [];
  const q = async (sql: string) => (await client.query(sql)).rows;

  for (const t of await q(`SELECT c.relname, c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname`)) {
    out.push(`TABLE ${t.relname}${t.relrowsecurity ? ' (row level security)' : ''}`);
    for (const c of await q(`SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
                                    pg_get_expr(d.adbin, d.adrelid) AS def
                             FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                             WHERE a.attrelid = 'public.${t.relname}'::regclass AND a.attnum > 0 AND NOT a.attisdropped
                             ORDER BY a.attnum`)) {
      out.push(`  ${c.attname} ${c.type}${c.attnotnull ? ' NOT NULL' : ''}${c.def ? ` DEFAULT ${c.def}` : ''}`);
    }
    for (const k of await q(`SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
                             WHERE conrelid = 'public.${t.relname}'::regclass AND contype <> 'n' ORDER BY conname`)) {
      out.push(`  CONSTRAINT ${k.conname} ${k.def}`);
    }
    for (const i of await q(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = '${t.relname}' ORDER BY indexname`)) {
      out.push(`  INDEX ${String(i.indexdef).replace(/^CREATE (UNIQUE )?INDEX \S+ ON public\.\S+ /, (_m, u) => (u ? 'UNIQUE ' : ''))}`);
    }
    for (const p of await q(`SELECT policyname, cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' AND tablename = '${t.relname}' ORDER BY policyname`)) {
      out.push(`  POLICY ${p.policyname} FOR ${p.cmd}${p.qual ? ` USING ${squash(p.qual)}` : ''}${p.with_check ? ` WITH CHECK ${squash(p.with_check)}` : ''}`);
    }
    for (const g of await q(`SELECT grantee, string_agg(privilege_type, ', ' ORDER BY privilege_type) AS privs
                             FROM information_schema.role_table_grants
                             WHERE table_schema = 'public' AND table_name = '${t.relname}' AND grantee = 'basalt_app_access'
                             GROUP BY grantee`)) {
      out.push(`  GRANT ${g.privs} TO ${g.grantee}`);
    }
    for (const tr of await q(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'public.${t.relname}'::regclass AND NOT tgisinternal ORDER BY tgname`)) {
      out.push(`  TRIGGER ${tr.tgname}`);
    }
    out.push('');
  }
  for (const f of await q(`SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args, p.prosecdef
                           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                           WHERE n.nspname = 'public' AND p.proname LIKE 'basalt%' ORDER BY p.proname, args`)) {
    out.push(`FUNCTION ${f.proname}(${f.args})${f.prosecdef ? ' SECURITY DEFINER' : ''}`);
  }
  return `${out.join('\n')}\n`;
}

function squash(sql: string): string {
  return sql.replace(/\s+/g, ' ').trim();
}
