import { useQuery } from '@tanstack/react-query';
import { api, type FilterOp } from './client.ts';

export type FieldType =
  | 'text'
  | 'textarea'
  | 'email'
  | 'phone'
  | 'url'
  | 'integer'
  | 'number'
  | 'decimal'
  | 'currency'
  | 'currencyCode'
  | 'boolean'
  | 'date'
  | 'datetime'
  | 'picklist'
  | 'lookup'
  | 'uuid';

/** One field as `GET /api/v1/metadata/objects` describes it. */
export interface FieldMeta {
  name: string;
  label: string;
  type: FieldType;
  required: boolean;
  readOnly: boolean;
  system?: boolean;
  custom: boolean;
  options?: string[];
  lookup?: string;
  maxLength?: number;
  defaultValue?: unknown;
  description?: string;
  searchable?: boolean;
  sortable: boolean;
  filterOps: FilterOp[];
}

export type Permission = 'read' | 'create' | 'update' | 'delete';

export interface ObjectMeta {
  name: string;
  singular: string;
  label: string;
  labelPlural: string;
  titleFields: string[];
  defaultSort: string;
  permissions: Permission[];
  fields: FieldMeta[];
}

export const metadataKey = ['metadata'] as const;

export function useMetadata() {
  return useQuery({
    queryKey: metadataKey,
    queryFn: async ({ signal }) => (await api<{ data: ObjectMeta[] }>('/api/v1/metadata/objects', { signal })).data.data,
    staleTime: 5 * 60_000,
  });
}

export function useObjectMeta(name: string): { meta: ObjectMeta | undefined; all: ObjectMeta[]; isLoading: boolean; error: unknown } {
  const q = useMetadata();
  return { meta: q.data?.find((o) => o.name === name), all: q.data ?? [], isLoading: q.isLoading, error: q.error };
}

export function fieldOf(meta: ObjectMeta, name: string): FieldMeta | undefined {
  return meta.fields.find((f) => f.name === name);
}

export function can(meta: ObjectMeta | undefined, p: Permission): boolean {
  return meta?.permissions.includes(p) ?? false;
}

/** Fields the system maintains; hidden from forms. */
export const SYSTEM_FIELD_NAMES = new Set(['id', 'version', 'createdAt', 'updatedAt', 'createdBy', 'updatedBy', 'deletedAt']);

export function editableFields(meta: ObjectMeta): FieldMeta[] {
  return meta.fields.filter((f) => !f.readOnly && !SYSTEM_FIELD_NAMES.has(f.name) && f.name !== 'ownerId');
}

/** Default list columns: the title fields, then the first few editable non-text-area fields. */
export function defaultColumns(meta: ObjectMeta): string[] {
  const cols = [...meta.titleFields];
  for (const f of editableFields(meta)) {
    if (cols.length >= 6) break;
    if (!cols.includes(f.name) && f.type !== 'textarea' && f.name !== 'externalId') cols.push(f.name);
  }
  return cols;
}

export function recordTitle(meta: ObjectMeta | undefined, r: Record<string, unknown> | undefined): string {
  if (!r) return '';
  if (!meta) return String(r.name ?? r.subject ?? r.id ?? '');
  const t = meta.titleFields
    .map((f) => r[f])
    .filter((v) => v !== null && v !== undefined && v !== '')
    .join(' ')
    .trim();
  return t || `(untitled ${meta.singular})`;
}
