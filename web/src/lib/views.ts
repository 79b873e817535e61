import type { Filter } from '../api/client.ts';

/**
 * Saved list views, per user and object. The API has no saved-views resource yet, so they
 * live in this browser's localStorage; the shape is what a future /api/v1/views would store.
 */
export interface ListViewState {
  columns: string[];
  filters: Filter[];
  sort: string;
}

export interface SavedView extends ListViewState {
  name: string;
}

const key = (userId: string, object: string) => `basalt.views.${userId}.${object}`;
const lastKey = (userId: string, object: string) => `basalt.lastview.${userId}.${object}`;

function readJson<T>(k: string, fallback: T): T {
  try {
    const raw = localStorage.getItem(k);
    return raw ? (JSON.parse(raw) as T) : fallback;
  } catch {
    return fallback;
  }
}

export function loadViews(userId: string, object: string): SavedView[] {
  const v = readJson<SavedView[]>(key(userId, object), []);
  return Array.isArray(v) ? v : [];
}

export function saveView(userId: string, object: string, view: SavedView): SavedView[] {
  const views = loadViews(userId, object).filter((v) => v.name !== view.name);
  views.push(view);
  views.sort((a, b) => a.name.localeCompare(b.name));
  localStorage.setItem(key(userId, object), JSON.stringify(views));
  return views;
}

export function deleteView(userId: string, object: string, name: string): SavedView[] {
  const views = loadViews(userId, object).filter((v) => v.name !== name);
  localStorage.setItem(key(userId, object), JSON.stringify(views));
  return views;
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
