import type { ResolvedObject } from '../objects/registry.ts';
import { auditPaths } from './paths/audit.ts';
import { authPaths } from './paths/auth.ts';
import { importExportPaths } from './paths/import-export.ts';
import { metadataPaths, recordPaths, recordSchemas } from './paths/records.ts';
import { reportPaths } from './paths/reports.ts';
import { resiliencePaths } from './paths/resilience.ts';
import { systemPaths } from './paths/system.ts';
import { userPaths, apiKeyPaths } from './paths/users.ts';
import { viewPaths } from './paths/views.ts';
import { webhookPaths } from './paths/webhooks.ts';
import { COMMON_SCHEMAS } from './schemas.ts';
import { compile, HEADERS, type PathTable, type Schema } from './shared.ts';

/**
 * The OpenAPI 3.1 document: record paths and schemas generated from the object
 * declarations (and the organization's custom fields), composed with the declarative
 * per-domain tables in ./paths. Every route the server registers under /api/v1 is in it
 * (test/http/openapi-coverage.test.ts holds that true).
 */
export function buildOpenApi(objects: ResolvedObject[], opts: { version: string }): Record<string, unknown> {
  const tables: [tag: string, table: PathTable][] = [
    ['Records', recordPaths(objects)],
    ['Import and export', importExportPaths(objects)],
    ['Auth', authPaths],
    ['Users', userPaths],
    ['API keys', apiKeyPaths],
    ['Views', viewPaths],
    ['Metadata', metadataPaths],
    ['Audit', auditPaths],
    ['Webhooks', webhookPaths],
    ['Reports', reportPaths],
    ['Resilience', resiliencePaths],
    ['Operations', systemPaths],
  ];
  const paths: Record<string, Schema> = {};
  for (const [tag, table] of tables) {
    for (const [path, item] of Object.entries(compile(tag, table))) paths[path] = { ...(paths[path] ?? {}), ...item };
  }
  const schemas: Record<string, Schema> = { ...COMMON_SCHEMAS };
  for (const obj of objects) Object.assign(schemas, recordSchemas(obj));

  return {
    openapi: '3.1.0',
    info: {
      title: 'Basalt CRM API',
      version: opts.version,
      description:
        'Records, search, metadata, identity, audit, webhooks, import/export and reports. Errors are RFC 9457 ' +
        'problem+json with a stable `code`. Writes accept an Idempotency-Key.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Access token (JWT) or API key (bsk_…)' },
        mfaToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'The MFA enrollment token from POST /api/v1/auth/login (mfaEnrollmentRequired)',
        },
      },
      headers: HEADERS,
      schemas,
    },
    paths,
  };
}
