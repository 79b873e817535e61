import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STANDARD_OBJECTS } from '../../src/objects/definitions.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

/**
 * The OpenAPI document covers the API: every route the server registers (collected by the
 * onRoute hook in src/server.ts) is in it with that method, nothing in it is not served,
 * and the document holds together (every $ref resolves, path parameters match templates,
 * every schema compiles as JSON Schema 2020-12, the dialect of OpenAPI 3.1).
 */

type Doc = {
  openapi: string;
  info: { title: string; version: string };
  security?: Record<string, string[]>[];
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown>; headers?: Record<string, unknown> };
  paths: Record<string, Record<string, Operation>>;
};
type Parameter = { name: string; in: string; required?: boolean; schema?: unknown };
type Operation = {
  operationId?: string;
  parameters?: Parameter[];
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, { schema?: unknown }> };
};

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
/** Swagger UI's own routes and the web UI's SPA routes are not API. */
const NOT_API = (url: string) => url.startsWith('/api/docs') || url === '/' || url === '/*';

let t: TestApp;
let doc: Doc;
beforeAll(async () => {
  t = await startTestApp();
  const res = await t.request('GET', '/api/v1/openapi.json');
  expect(res.status).toBe(200);
  doc = res.body;
});
afterAll(async () => t?.close());

/** The document paths a registered route stands for (`/api/v1/:object/...` is one per object). */
function documentedAs(url: string): string[] {
  const templated = (u: string) => u.replace(/:(\w+)/g, '{$1}');
  const m = /^\/api\/v1\/:object(\/.*)?$/.exec(url);
  if (m) return STANDARD_OBJECTS.map((o) => templated(`/api/v1/${o.name}${m[1] ?? ''}`));
  return [templated(url)];
}

function registered(): { method: string; url: string }[] {
  const all = t.server.routes.filter((r) => !NOT_API(r.url));
  const gets = new Set(all.filter((r) => r.method === 'GET').map((r) => r.url));
  // HEAD routes Fastify adds for every GET are not documented separately.
  return all.filter((r) => !(r.method === 'HEAD' && gets.has(r.url)));
}

describe('OpenAPI coverage', () => {
  it('collects the routes as registered', () => {
    const urls = registered().map((r) => `${r.method} ${r.url}`);
    expect(urls).toContain('POST /api/v1/auth/login');
    expect(urls).toContain('GET /api/v1/:object');
    expect(urls).toContain('POST /api/v1/:object/import');
    expect(urls.length).toBeGreaterThan(50);
  });

  it('documents every registered /api/v1 route with its method', () => {
    const apiRoutes = registered().filter((r) => r.url.startsWith('/api/v1'));
    expect(apiRoutes.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const r of registered()) {
      for (const path of documentedAs(r.url)) {
        if (!doc.paths[path]?.[r.method.toLowerCase()]) missing.push(`${r.method} ${path} (route ${r.url})`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('documents nothing the server does not serve', () => {
    const served = new Set(registered().flatMap((r) => documentedAs(r.url).map((p) => `${r.method.toLowerCase()} ${p}`)));
    const phantom: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) if (!served.has(`${method} ${path}`)) phantom.push(`${method} ${path}`);
    }
    expect(phantom).toEqual([]);
  });

  it('documents Idempotency-Key on write-path routes and If-Match where honoured', () => {
    const header = (op: Operation | undefined, name: string) => op?.parameters?.find((p) => p.in === 'header' && p.name === name);
    for (const [method, path] of [
      ['post', '/api/v1/users'],
      ['post', '/api/v1/api-keys'],
      ['post', '/api/v1/webhooks'],
      ['post', '/api/v1/webhooks/{id}/deliveries/{deliveryId}/replay'],
      ['post', '/api/v1/resilience/experiments'],
      ['post', '/api/v1/auth/mfa/confirm'],
      ['post', '/api/v1/accounts/import'],
      ['patch', '/api/v1/organization'],
    ] as const) {
      expect(header(doc.paths[path][method], 'Idempotency-Key'), `${method} ${path}`).toBeDefined();
    }
    expect(header(doc.paths['/api/v1/users/{id}'].patch, 'If-Match')?.required).toBe(false);
    expect(header(doc.paths['/api/v1/accounts/{id}'].delete, 'If-Match')?.required).toBe(true);
    expect(header(doc.paths['/api/v1/auth/login'].post, 'Idempotency-Key')).toBeUndefined();
  });

  it('answers errors as problem+json with their codes', () => {
    const login = doc.paths['/api/v1/auth/login'].post;
    expect(login.security).toEqual([]);
    expect(Object.keys(login.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '429']));
    expect(login.responses['429'].content?.['application/problem+json']).toBeDefined();
    const patch = doc.paths['/api/v1/accounts/{id}'].patch;
    expect(Object.keys(patch.responses)).toEqual(expect.arrayContaining(['200', '409', '412', '422', '428']));
  });
});

describe('OpenAPI document structure', () => {
  it('is OpenAPI 3.1 with info, paths and unique operation ids', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toBeTruthy();
    const ids = new Map<string, string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      expect(path.startsWith('/')).toBe(true);
      for (const [method, op] of Object.entries(item)) {
        expect(METHODS.has(method), `${method} ${path}`).toBe(true);
        expect(op.operationId, `${method} ${path}`).toBeTruthy();
        const id = String(op.operationId);
        expect(ids.get(id), `operationId ${id} of ${method} ${path}`).toBeUndefined();
        ids.set(id, `${method} ${path}`);
        expect(Object.keys(op.responses).length, `${method} ${path}`).toBeGreaterThan(0);
        for (const status of Object.keys(op.responses)) expect(status).toMatch(/^([1-5]\d\d|default)$/);
      }
    }
  });

  it('declares exactly the path parameters each template names, once each', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const template = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      for (const [method, op] of Object.entries(item)) {
        const params = op.parameters ?? [];
        const declared = params.filter((p) => p.in === 'path');
        expect(declared.map((p) => p.name).sort(), `${method} ${path}`).toEqual(template);
        for (const p of declared) expect(p.required, `${method} ${path} ${p.name}`).toBe(true);
        const keys = params.map((p) => `${p.in}:${p.name.toLowerCase()}`);
        expect(new Set(keys).size, `${method} ${path}`).toBe(keys.length);
        for (const p of params) expect(['path', 'query', 'header', 'cookie']).toContain(p.in);
      }
    }
  });

  it('names only security schemes it defines', () => {
    const schemes = new Set(Object.keys(doc.components.securitySchemes));
    const requirements = [
      ...(doc.security ?? []),
      ...Object.values(doc.paths).flatMap((item) => Object.values(item).flatMap((op) => op.security ?? [])),
    ];
    for (const req of requirements) for (const name of Object.keys(req)) expect(schemes.has(name), name).toBe(true);
  });

  it('resolves every $ref', () => {
    const unresolved: string[] = [];
    const resolve = (ref: string): unknown => {
      if (!ref.startsWith('#/')) return undefined;
      let node: unknown = doc;
      for (const raw of ref.slice(2).split('/')) {
        const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
        if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
        node = (node as Record<string, unknown>)[key];
      }
      return node;
    };
    let refs = 0;
    const walk = (node: unknown, at: string): void => {
      if (Array.isArray(node)) {
        for (const [i, v] of node.entries()) walk(v, `${at}/${i}`);
      } else if (node !== null && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === '$ref' && typeof v === 'string') {
            refs++;
            if (resolve(v) === undefined) unresolved.push(`${at}: ${v}`);
          } else walk(v, `${at}/${k}`);
        }
      }
    };
    walk(doc, '#');
    expect(refs).toBeGreaterThan(100);
    expect(unresolved).toEqual([]);
  });

  it('has schemas that compile as JSON Schema 2020-12 (the OpenAPI 3.1 dialect)', () => {
    // strictRequired off: `oneOf: [{ required: [a] }, { required: [b] }]` (one of two fields) is valid 2020-12.
    const ajv = new Ajv2020({ strict: true, strictRequired: false, validateFormats: false, allowUnionTypes: true });
    ajv.addKeyword({ keyword: 'components' });
    const failures: string[] = [];
    const seen = new Set<string>();
    const check = (schema: unknown, where: string) => {
      const key = JSON.stringify(schema);
      if (seen.has(key)) return;
      seen.add(key);
      try {
        // Local refs (#/components/...) resolve inside the document.
        ajv.compile({ $id: `urn:check:${seen.size}`, ...(schema as object), components: doc.components });
      } catch (err) {
        failures.push(`${where}: ${(err as Error).message}`);
      }
    };
    for (const [name, schema] of Object.entries(doc.components.schemas)) check(schema, `schemas/${name}`);
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const p of op.parameters ?? []) if (p.schema) check(p.schema, `${method} ${path} param ${p.name}`);
        for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) check(media.schema, `${method} ${path} body ${type}`);
        for (const [status, r] of Object.entries(op.responses)) {
          for (const [type, media] of Object.entries(r.content ?? {})) if (media.schema) check(media.schema, `${method} ${path} ${status} ${type}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});
