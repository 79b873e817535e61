import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { readLegacyViews, forgetLegacyViews, type ListViewState } from '../lib/views.ts';
import { ApiError, api } from './client.ts';

/** A saved list view as `GET /api/v1/views` returns it (personal to the signed-in user). */
export interface SavedView {
  id: string;
  object: string;
  name: string;
  definition: ListViewState;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export const viewsKey = (object: string) => ['views', object] as const;

export async function listViews(object: string, signal?: AbortSignal): Promise<SavedView[]> {
  return (await api<{ data: SavedView[] }>(`/api/v1/views?object=${encodeURIComponent(object)}`, { signal })).data.data;
}

export async function createView(object: string, name: string, definition: ListViewState): Promise<SavedView> {
  return (await api<SavedView>('/api/v1/views', { method: 'POST', body: { object, name, definition } })).data;
}

export async function updateView(view: SavedView, patch: { name?: string; definition?: ListViewState }): Promise<SavedView> {
  return (await api<SavedView>(`/api/v1/views/${encodeURIComponent(view.id)}`, { method: 'PATCH', body: patch, ifMatch: view.version })).data;
}

export async function deleteView(view: SavedView): Promise<void> {
  await api(`/api/v1/views/${encodeURIComponent(view.id)}`, { method: 'DELETE', ifMatch: view.version });
}

/** Saves under a name: replaces the user's view of that name, else creates one. */
export async function saveView(object: string, existing: SavedView[], name: string, definition: ListViewState): Promise<SavedView> {
  const same = existing.find((v) => v.name.toLowerCase() === name.toLowerCase());
  return same ? updateView(same, { name, definition }) : createView(object, name, definition);
}

/**
 * Views saved in this browser before the server kept them are sent to the server once,
 * then forgotten locally. A view the server refuses (a field since removed) is dropped.
 */
export async function importLegacyViews(userId: string, object: string, existing: SavedView[]): Promise<boolean> {
  const legacy = readLegacyViews(userId, object);
  if (legacy === null) return false;
  const taken = new Set(existing.map((v) => v.name.toLowerCase()));
  for (const v of legacy) {
    if (taken.has(v.name.toLowerCase())) continue;
    try {
      await createView(object, v.name, { columns: v.columns, filters: v.filters, sort: v.sort });
      taken.add(v.name.toLowerCase());
    } catch (err) {
      if (!(err instanceof ApiError) || err.status >= 500) throw err; // try again next time
    }
  }
  forgetLegacyViews(userId, object);
  return true;
}

/** The user's views of an object, after the one-time import of views kept in this browser. */
export function useSavedViews(userId: string, object: string) {
  const qc = useQueryClient();
  const q = useQuery({ queryKey: viewsKey(object), queryFn: ({ signal }) => listViews(object, signal), staleTime: 60_000 });
  const loaded = q.data;
  useEffect(() => {
    if (!loaded) return;
    importLegacyViews(userId, object, loaded)
      .then((imported) => (imported ? qc.invalidateQueries({ queryKey: viewsKey(object) }) : undefined))
      .catch(() => {});
  }, [loaded, userId, object, qc]);
  return q;
}
