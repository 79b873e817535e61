import type { Filter } from '../api/client.ts';

/**
 * List view state (columns, filters, sort). Saved views live on the server
 * (/api/v1/views, see api/views.ts); this browser keeps only the last state per list, and
 * reads the views it kept before the server did, once, to import them.
 */
export interface ListViewState {
  columns: string[];
  filters: Filter[];
  sort: string;
}

export interface LegacyView extends ListViewState {
  name: string;
}

const legacyKey = (userId: string, object: string) => `basalt.views.${userId}.${object}`;
const lastKey = (userId: string, object: string) => `basalt.lastview.${userId}.${object}`;

function readJson<T>(k: string, fallback: T): T {
  try {
    const raw = localStorage.getItem(k);
    return raw ? (JSON.parse(raw) as T) : fallback;
  } catch {
    return fallback;
  }
}

function isLegacyView(v: unknown): v is LegacyView {
  if (typeof v !== 'object' || v === null) return false;
  const x = v as Partial<LegacyView>;
  return typeof x.name === 'string' && Array.isArray(x.columns) && Array.isArray(x.filters) && typeof x.sort === 'string';
}

/** Views saved in this browser by the earlier UI, or null when there are none left to import. */
export function readLegacyViews(userId: string, object: string): LegacyView[] | null {
  if (localStorage.getItem(legacyKey(userId, object)) === null) return null;
  const v = readJson<unknown>(legacyKey(userId, object), []);
  return Array.isArray(v) ? v.filter(isLegacyView) : [];
}

export function forgetLegacyViews(userId: string, object: string): void {
  localStorage.removeItem(legacyKey(userId, object));
}

export function loadLastState(userId: string, object: string): ListViewState | null {
  return readJson<ListViewState | null>(lastKey(userId, object), null);
}

export function saveLastState(userId: string, object: string, s: ListViewState): void {
  localStorage.setItem(lastKey(userId, object), JSON.stringify(s));
}

/** Cycles a column's sort: ascending, descending, then back to the default. */
export function nextSort(current: string, field: string, fallback: string): string {
  if (current === field) return `-${field}`;
  if (current === `-${field}`) return fallback;
  return field;
}
