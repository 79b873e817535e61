import { clearSession, getSession, refreshSession } from './session.ts';

export interface FieldError {
  path: string;
  message: string;
}

export interface Conflict {
  field: string;
  yours: unknown;
  theirs: unknown;
}

/** An RFC 9457 problem answer, as a thrown error. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly errors: FieldError[];
  readonly body: Record<string, unknown>;
  constructor(status: number, body: Record<string, unknown>) {
    const detail = typeof body.detail === 'string' ? body.detail : typeof body.title === 'string' ? body.title : `HTTP ${status}`;
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = typeof body.code === 'string' ? body.code : `http_${status}`;
    this.errors = Array.isArray(body.errors) ? (body.errors as FieldError[]) : [];
    this.body = body;
  }
  get conflicts(): Conflict[] {
    return Array.isArray(this.body.conflicts) ? (this.body.conflicts as Conflict[]) : [];
  }
  get current(): ApiRecord | undefined {
    return (this.body.current as ApiRecord | undefined) ?? undefined;
  }
}

export type ApiRecord = Record<string, unknown> & { id: string; version: number };

export interface ApiOptions {
  method?: string;
  body?: unknown;
  /** The record version the change is based on (sent as If-Match). */
  ifMatch?: number;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Send an Idempotency-Key so a retry after a lost answer never writes twice. */
  idempotent?: boolean;
}

export interface ApiResponse<T> {
  data: T;
  status: number;
  etag: string | null;
}

export function newId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

async function bearer(): Promise<string | undefined> {
  let s = getSession();
  if (!s) return undefined;
  if (s.expiresAt - Date.now() < 15_000) {
    try {
      s = await refreshSession();
    } catch {
      /* offline: try with what we have; a 401 will retry the refresh */
    }
  }
  return s?.accessToken;
}

const RETRYABLE = new Set([502, 503, 504]);

/**
 * Every request the UI makes goes through here: bearer token (refreshed before expiry and
 * once more on a 401), If-Match, Idempotency-Key, and problem+json turned into ApiError.
 */
export async function api<T = unknown>(path: string, opts: ApiOptions = {}): Promise<ApiResponse<T>> {
  const method = opts.method ?? 'GET';
  const idempotencyKey = opts.idempotent || (method !== 'GET' && method !== 'HEAD') ? newId() : undefined;
  let refreshed = false;
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    const token = await bearer();
    if (token) headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.ifMatch !== undefined) headers['if-match'] = `"${opts.ifMatch}"`;
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal,
      });
    } catch (err) {
      // Lost connection: safe to retry because of the Idempotency-Key (or a GET).
      if (attempt < 2 && !opts.signal?.aborted) {
        await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
        continue;
      }
      throw err;
    }
    if (res.status === 401 && token && !refreshed) {
      refreshed = true;
      const s = await refreshSession().catch(() => null);
      if (s) continue;
    }
    if (RETRYABLE.has(res.status) && attempt < 2) {
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      continue;
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = { detail: text.slice(0, 300) };
    }
    if (!res.ok) {
      if (res.status === 401 && token) clearSession('expired');
      throw new ApiError(res.status, (body ?? {}) as Record<string, unknown>);
    }
    return { data: body as T, status: res.status, etag: res.headers.get('etag') };
  }
}

export interface Page<T = ApiRecord> {
  data: T[];
  nextCursor: string | null;
}

export type FilterOp = 'eq' | 'ne' | 'in' | 'lt' | 'lte' | 'gt' | 'gte' | 'contains' | 'startsWith' | 'isNull';

export interface Filter {
  field: string;
  op: FilterOp;
  value: string;
}

export interface ListParams {
  filters?: Filter[];
  sort?: string;
  limit?: number;
  cursor?: string | null;
  fields?: string[];
}

export function listQueryString(p: ListParams): string {
  const q = new URLSearchParams();
  for (const f of p.filters ?? []) q.append(`filter[${f.field}][${f.op}]`, f.value);
  if (p.sort) q.set('sort', p.sort);
  if (p.limit) q.set('limit', String(p.limit));
  if (p.cursor) q.set('cursor', p.cursor);
  if (p.fields?.length) q.set('fields', p.fields.join(','));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export async function listRecords(object: string, p: ListParams, signal?: AbortSignal): Promise<Page> {
  return (await api<Page>(`/api/v1/${object}${listQueryString(p)}`, { signal })).data;
}

/**
 * Every record matching the filters, page by page (for dashboards and the kanban until the
 * API offers aggregates). Stops at `max` and says so.
 */
export async function listAll(object: string, p: ListParams, max = 10_000, signal?: AbortSignal): Promise<{ data: ApiRecord[]; truncated: boolean }> {
  const out: ApiRecord[] = [];
  let cursor: string | null = null;
  do {
    const page: Page = await listRecords(object, { ...p, limit: 500, cursor }, signal);
    out.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor && out.length < max);
  return { data: out, truncated: cursor !== null };
}

export async function getRecord(object: string, id: string, signal?: AbortSignal): Promise<ApiRecord> {
  return (await api<ApiRecord>(`/api/v1/${object}/${encodeURIComponent(id)}`, { signal })).data;
}

export async function createRecord(object: string, values: Record<string, unknown>): Promise<ApiRecord> {
  return (await api<ApiRecord>(`/api/v1/${object}`, { method: 'POST', body: values })).data;
}

export async function patchRecord(object: string, id: string, version: number, values: Record<string, unknown>): Promise<ApiRecord> {
  return (await api<ApiRecord>(`/api/v1/${object}/${encodeURIComponent(id)}`, { method: 'PATCH', body: values, ifMatch: version })).data;
}

export async function deleteRecord(object: string, id: string, version: number): Promise<void> {
  await api(`/api/v1/${object}/${encodeURIComponent(id)}`, { method: 'DELETE', ifMatch: version });
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 404 && err.code === 'not_found' && /No route/.test(err.message)) return 'This server does not offer that API yet.';
    return err.message;
  }
  if (err instanceof Error) return err.message === 'Failed to fetch' ? 'Cannot reach the server. Check your connection.' : err.message;
  return String(err);
}

/** True when the route does not exist on this server (an API that has not landed yet). */
export function isMissingApi(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 404 || err.status === 405) && /No route/i.test(err.message);
}
