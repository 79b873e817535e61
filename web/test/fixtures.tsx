import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { vi } from 'vitest';
import type { FieldMeta, ObjectMeta } from '../src/api/metadata.ts';
import { ConflictProvider } from '../src/components/conflict.tsx';
import { ToastProvider } from '../src/components/ui.tsx';

const ops = {
  text: ['eq', 'ne', 'in', 'contains', 'startsWith', 'isNull'],
  number: ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'isNull'],
  pick: ['eq', 'ne', 'in', 'isNull'],
} as const;

export function field(name: string, type: FieldMeta['type'], extra: Partial<FieldMeta> = {}): FieldMeta {
  const filterOps = [...(type === 'picklist' || type === 'lookup' ? ops.pick : ['integer', 'decimal', 'number', 'date'].includes(type) ? ops.number : ops.text)];
  return { name, label: name.charAt(0).toUpperCase() + name.slice(1), type, required: false, readOnly: false, custom: false, sortable: true, filterOps, ...extra } as FieldMeta;
}

const system = [
  field('id', 'uuid', { readOnly: true, system: true }),
  field('version', 'integer', { readOnly: true, system: true }),
  field('createdAt', 'datetime', { readOnly: true, system: true }),
  field('updatedAt', 'datetime', { readOnly: true, system: true }),
  field('ownerId', 'lookup', { lookup: 'users', system: true }),
];

export const accountsMeta: ObjectMeta = {
  name: 'accounts',
  singular: 'account',
  label: 'Account',
  labelPlural: 'Accounts',
  titleFields: ['name'],
  defaultSort: '-createdAt',
  permissions: ['read', 'create', 'update', 'delete'],
  fields: [
    ...system,
    field('name', 'text', { label: 'Account name', required: true }),
    field('employees', 'integer'),
    field('website', 'url'),
    field('industry', 'picklist', { options: ['banking', 'retail'] }),
    field('region', 'picklist', { label: 'Region', custom: true, options: ['EMEA', 'AMER'] }),
  ],
};

export const opportunitiesMeta: ObjectMeta = {
  name: 'opportunities',
  singular: 'opportunity',
  label: 'Opportunity',
  labelPlural: 'Opportunities',
  titleFields: ['name'],
  defaultSort: '-createdAt',
  permissions: ['read', 'create', 'update', 'delete'],
  fields: [
    ...system,
    field('name', 'text', { required: true }),
    field('amount', 'decimal'),
    field('currency', 'currencyCode'),
    field('stage', 'picklist', { required: true, options: ['prospecting', 'proposal', 'closed_won', 'closed_lost'] }),
    field('closeDate', 'date'),
    field('accountId', 'lookup', { lookup: 'accounts' }),
  ],
};

export interface Call {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

type Handler = (c: Call) => { status?: number; body?: unknown } | undefined;

/** Stubs fetch with a router; records every call. Unmatched calls answer 404 problem+json. */
export function mockApi(handler: Handler): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const c: Call = {
        method: init.method ?? 'GET',
        url: String(url),
        headers: Object.fromEntries(Object.entries((init.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v])),
        body: init.body ? JSON.parse(String(init.body)) : undefined,
      };
      calls.push(c);
      const res = handler(c) ?? { status: 404, body: { code: 'not_found', detail: `No route for ${c.method} ${c.url}` } };
      return new Response(res.body === undefined ? null : JSON.stringify(res.body), {
        status: res.status ?? 200,
        headers: { 'content-type': 'application/json' },
      });
    }),
  );
  return calls;
}

export function wrap(children: ReactNode) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return (
    <QueryClientProvider client={qc}>
      <ToastProvider>
        <ConflictProvider>{children}</ConflictProvider>
      </ToastProvider>
    </QueryClientProvider>
  );
}
