import { useQuery } from '@tanstack/react-query';
import { api, type Filter } from './client.ts';

/** One group of `GET /api/v1/{object}/aggregate`: key = first groupBy value; sum is a decimal string. */
export interface AggregateRow {
  key: string | boolean | null;
  group: Record<string, string | boolean | null>;
  count: number;
  sum?: string;
}

export interface AggregateParams {
  groupBy?: string[];
  sum?: string;
  filters?: Filter[];
  sort?: 'key' | 'count' | '-count' | 'sum' | '-sum';
  limit?: number;
}

function filterParams(filters: Filter[] = []): URLSearchParams {
  const q = new URLSearchParams();
  for (const f of filters) q.append(`filter[${f.field}][${f.op}]`, f.value);
  return q;
}

export async function countRecords(object: string, filters: Filter[] = [], signal?: AbortSignal): Promise<number> {
  const q = filterParams(filters).toString();
  return (await api<{ count: number }>(`/api/v1/${object}/count${q ? `?${q}` : ''}`, { signal })).data.count;
}

export async function aggregateRecords(object: string, p: AggregateParams, signal?: AbortSignal): Promise<{ data: AggregateRow[]; truncated: boolean }> {
  const q = filterParams(p.filters);
  if (p.groupBy?.length) q.set('groupBy', p.groupBy.join(','));
  if (p.sum) q.set('sum', p.sum);
  if (p.sort) q.set('sort', p.sort);
  if (p.limit) q.set('limit', String(p.limit));
  const s = q.toString();
  return (await api<{ data: AggregateRow[]; truncated: boolean }>(`/api/v1/${object}/aggregate${s ? `?${s}` : ''}`, { signal })).data;
}

/** Counts for list headers; under the list's key prefix, so whatever refreshes a list refreshes its count. */
export function useCount(object: string, filters: Filter[]) {
  return useQuery({ queryKey: ['list', object, 'count', filters], queryFn: ({ signal }) => countRecords(object, filters, signal) });
}

/** Adds decimal strings per currency (display only; the server never mixes currencies in one sum). */
export function totalsFromGroups(rows: AggregateRow[], currencyField = 'currency'): { currency: string | null; amount: number }[] {
  const sums = new Map<string | null, number>();
  for (const r of rows) {
    if (r.sum === undefined) continue;
    const c = (r.group[currencyField] as string | null | undefined) ?? null;
    if (Number(r.sum) === 0 && c === null) continue;
    sums.set(c, (sums.get(c) ?? 0) + Number(r.sum));
  }
  return [...sums].map(([currency, amount]) => ({ currency, amount })).sort((a, b) => b.amount - a.amount);
}
