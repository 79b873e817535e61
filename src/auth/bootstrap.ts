import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { newId } from '../ids.ts';
import { GENESIS } from '../audit/chain.ts';
import type { PoolClient } from '../db/pool.ts';
import { hashPassword } from './passwords.ts';
import type { Role } from './actor.ts';

export interface NewOrganization {
  organizationName: string;
  adminEmail: string;
  adminName: string;
  adminPassword: string;
}

/**
 * Inserts an organization, its audit chain head and its first admin. Runs inside the
 * caller's transaction with basalt.org_id set to the new id (or as the migrating role).
 */
export async function insertOrganization(
  client: PoolClient | pg.Client,
  org: NewOrganization,
  ids = { orgId: newId(), userId: newId() },
): Promise<{ orgId: string; userId: string }> {
  await client.query('INSERT INTO organizations (id, name) VALUES ($1, $2)', [ids.orgId, org.organizationName]);
  await client.query('INSERT INTO audit_heads (organization_id, seq, head_hash) VALUES ($1, 0, $2)', [ids.orgId, GENESIS]);
  const role: Role = 'admin';
  await client.query(
    'INSERT INTO users (organization_id, id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5, $6)',
    [ids.orgId, ids.userId, org.adminEmail, org.adminName, role, await hashPassword(org.adminPassword)],
  );
  return ids;
}

/**
 * First start on an empty database: one organization and its admin. The password comes
 * from BASALT_ADMIN_PASSWORD, else it is generated and printed once. Safe when several
 * nodes start at once (advisory lock).
 */
export async function bootstrapFirstOrganization(
  adminUrl: string,
  opts: { organizationName: string; adminEmail: string; adminPassword?: string },
  print: (msg: string) => void,
): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminUrl, application_name: 'basalt-bootstrap' });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended('basalt-bootstrap', 0))");
    const existing = await client.query('SELECT 1 FROM organizations LIMIT 1');
    if (existing.rowCount) {
      await client.query('COMMIT');
      return false;
    }
    const password = opts.adminPassword ?? randomBytes(12).toString('base64url');
    await insertOrganization(client, {
      organizationName: opts.organizationName,
      adminEmail: opts.adminEmail,
      adminName: 'Administrator',
      adminPassword: password,
    });
    await client.query('COMMIT');
    if (opts.adminPassword) {
      print(`Created organization "${opts.organizationName}" with admin ${opts.adminEmail} (password from BASALT_ADMIN_PASSWORD).`);
    } else {
      print(
        `Created organization "${opts.organizationName}" with admin ${opts.adminEmail}.\n` +
          `  Generated admin password (shown once, change it after signing in): ${password}`,
      );
    }
    return true;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await client.end();
  }
}
