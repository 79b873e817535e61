import { useQuery } from '@tanstack/react-query';
import { api, type ApiRecord, isMissingApi, listRecords } from './client.ts';
import { type ObjectMeta, recordTitle } from './metadata.ts';

export interface UserSummary {
  id: string;
  email: string;
  name: string;
  role: string;
  teamId?: string | null;
  status?: string;
}

export interface UserFilters {
  /** Name or email contains (case-insensitive). */
  q?: string;
  role?: string;
  teamId?: string;
  status?: 'active' | 'disabled';
}

/** Users of the organization (filtered on the server), or null when this server has no users API yet. */
export function useUsers(filters: UserFilters = {}) {
  const params = new URLSearchParams({ limit: '500' });
  for (const [k, v] of Object.entries(filters)) if (v) params.set(k, v);
  return useQuery({
    queryKey: ['users', filters],
    queryFn: async ({ signal }) => {
      try {
        const res = await api<{ data: UserSummary[] } | UserSummary[]>(`/api/v1/users?${params}`, { signal });
        return Array.isArray(res.data) ? res.data : res.data.data;
      } catch (err) {
        if (isMissingApi(err)) return null;
        throw err;
      }
    },
    staleTime: 60_000,
  });
}

/**
 * Titles of records that lookups point to, fetched in batches: all ids asked for in the
 * same tick become one `filter[id][in]=` request per object.
 */
type Pending = { ids: Set<string>; waiters: Map<string, ((t: string | null) => void)[]> };
const pending = new Map<string, Pending>();
let metaRef: ObjectMeta[] = [];

export function setLookupMetadata(all: ObjectMeta[]): void {
  metaRef = all;
}

function flush(object: string) {
  const p = pending.get(object);
  pending.delete(object);
  if (!p) return;
  const meta = metaRef.find((o) => o.name === object);
  const ids = [...p.ids];
  const fields = meta ? meta.titleFields : undefined;
  listRecords(object, { filters: [{ field: 'id', op: 'in', value: ids.join(',') }], fields, limit: 500 })
    .then((page) => {
      const byId = new Map<string, ApiRecord>(page.data.map((r) => [r.id, r]));
      for (const [id, ws] of p.waiters) {
        const r = byId.get(id);
        for (const w of ws) w(r ? recordTitle(meta, r) : null);
      }
    })
    .catch(() => {
      for (const ws of p.waiters.values()) for (const w of ws) w(null);
    });
}

export function loadTitle(object: string, id: string): Promise<string | null> {
  return new Promise((resolve) => {
    let p = pending.get(object);
    if (!p) {
      p = { ids: new Set(), waiters: new Map() };
      pending.set(object, p);
      setTimeout(() => flush(object), 0);
    }
    p.ids.add(id);
    p.waiters.set(id, [...(p.waiters.get(id) ?? []), resolve]);
  });
}

export function useRecordTitle(object: string | undefined, id: string | null | undefined) {
  const users = useUsers();
  const isUser = object === 'users';
  const q = useQuery({
    queryKey: ['title', object, id],
    queryFn: () => loadTitle(object!, id!),
    enabled: Boolean(object && id && !isUser),
    staleTime: 60_000,
  });
  if (isUser) {
    const u = users.data?.find((x) => x.id === id);
    return u ? u.name || u.email : null;
  }
  return q.data ?? null;
}
