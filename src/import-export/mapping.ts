import { AppError, type FieldError, validationError } from '../http/errors.ts';
import type { Json } from '../objects/field-types.ts';
import type { ResolvedField, ResolvedObject } from '../objects/registry.ts';
import { FORMULA_START } from './csv.ts';

/**
 * From a CSV header and the caller's mapping to the object's fields, and from CSV cells
 * to typed values that the object's declaration then validates (the same rules as the
 * JSON API: one declaration drives both).
 */

export type ImportMode = 'insert' | 'upsert';
export type UpsertKey = 'externalId' | 'email' | 'domain';

/** Which fields may identify a record for upsert, per object. */
export const UPSERT_KEYS: Record<string, readonly UpsertKey[]> = {
  accounts: ['externalId', 'domain'],
  contacts: ['externalId', 'email'],
  leads: ['externalId', 'email'],
  opportunities: ['externalId'],
  cases: ['externalId'],
  activities: ['externalId'],
};

export interface ImportOptions {
  mode: ImportMode;
  upsertKey: UpsertKey | null;
  /** CSV column → field name, or '' to ignore the column. */
  explicit: Record<string, string>;
}

export interface ColumnMapping {
  /** Per CSV column: the field it fills, or null when ignored. */
  columns: (ResolvedField | null)[];
  /** column → field, as the job records it. */
  described: Record<string, string | null>;
  keyColumn: number | null;
}

const KNOWN = new Set(['mode', 'upsertBy']);

/** `?mode=upsert&upsertBy=email&map[E-mail]=email&map[Notes]=` */
export function parseImportOptions(objectName: string, query: Record<string, unknown>): ImportOptions {
  const errors: FieldError[] = [];
  const explicit: Record<string, string> = {};
  for (const [k, v] of Object.entries(query)) {
    const m = /^map\[(.+)\]$/s.exec(k);
    if (m) {
      if (typeof v !== 'string') errors.push({ path: k.slice(0, 100), message: 'must be given once' });
      else explicit[m[1]] = v.trim();
      continue;
    }
    if (!KNOWN.has(k)) errors.push({ path: k.slice(0, 100), message: 'unknown query parameter (use mode, upsertBy, map[column]=field)' });
    else if (typeof v !== 'string') errors.push({ path: k, message: 'must be given once' });
  }
  const upsertBy = typeof query.upsertBy === 'string' ? query.upsertBy : undefined;
  let mode: ImportMode = upsertBy ? 'upsert' : 'insert';
  if (typeof query.mode === 'string') {
    if (query.mode !== 'insert' && query.mode !== 'upsert') errors.push({ path: 'mode', message: 'must be insert or upsert' });
    else mode = query.mode;
  }
  const allowed = UPSERT_KEYS[objectName] ?? [];
  let upsertKey: UpsertKey | null = null;
  if (mode === 'upsert') {
    if (!upsertBy) errors.push({ path: 'upsertBy', message: `name the key to upsert by: ${allowed.join(', ')}` });
    else if (!(allowed as readonly string[]).includes(upsertBy)) {
      errors.push({ path: 'upsertBy', message: `${objectName} can be upserted by ${allowed.join(', ')}` });
    } else upsertKey = upsertBy as UpsertKey;
  } else if (upsertBy) {
    errors.push({ path: 'upsertBy', message: 'only with mode=upsert' });
  }
  if (errors.length) throw validationError(errors);
  return { mode, upsertKey, explicit };
}

const norm = (s: string) => s.trim().toLowerCase().replace(/[\s_-]+/g, '');

/**
 * Columns map explicitly (map[column]=field), else by field name or label, ignoring case,
 * spaces and underscores. Read-only fields (id, version, createdAt: what an export
 * contains) are skipped when matched by name, refused when named explicitly.
 */
export function resolveMapping(obj: ResolvedObject, header: string[], opts: ImportOptions): ColumnMapping {
  const errors: FieldError[] = [];
  const byName = new Map<string, ResolvedField>();
  for (const f of obj.fields.values()) {
    byName.set(norm(f.name), f);
    if (!byName.has(norm(f.label))) byName.set(norm(f.label), f);
  }
  const columns: (ResolvedField | null)[] = [];
  const described: Record<string, string | null> = {};
  const taken = new Map<string, string>();
  const seenHeaders = new Set<string>();
  for (const [i, rawName] of header.entries()) {
    const name = rawName.trim();
    if (seenHeaders.has(name)) errors.push({ path: `column ${i + 1}`, message: `the header "${name.slice(0, 100)}" appears twice` });
    seenHeaders.add(name);
    let field: ResolvedField | null = null;
    if (Object.hasOwn(opts.explicit, name)) {
      const target = opts.explicit[name];
      if (target !== '') {
        const f = obj.fields.get(target);
        if (!f) errors.push({ path: `map[${name.slice(0, 100)}]`, message: `no field "${target.slice(0, 100)}" on ${obj.def.name}` });
        else if (f.readOnly) errors.push({ path: `map[${name.slice(0, 100)}]`, message: `${f.name} is read-only` });
        else field = f;
      }
    } else if (name !== '') {
      const f = byName.get(norm(name));
      if (!f) {
        errors.push({
          path: `column ${i + 1}`,
          message: `"${name.slice(0, 100)}" matches no field of ${obj.def.name}; map it (map[${name.slice(0, 60)}]=field) or ignore it (map[${name.slice(0, 60)}]=)`,
        });
      } else if (!f.readOnly) field = f;
    }
    if (field) {
      const other = taken.get(field.name);
      if (other !== undefined) errors.push({ path: `column ${i + 1}`, message: `"${name.slice(0, 100)}" and "${other.slice(0, 100)}" both map to ${field.name}` });
      taken.set(field.name, name);
    }
    columns.push(field);
    described[name] = field?.name ?? null;
  }
  for (const col of Object.keys(opts.explicit)) {
    if (!seenHeaders.has(col)) errors.push({ path: `map[${col.slice(0, 100)}]`, message: 'no such column in the file header' });
  }
  let keyColumn: number | null = null;
  if (opts.upsertKey) {
    keyColumn = columns.findIndex((f) => f?.name === opts.upsertKey);
    if (keyColumn < 0) errors.push({ path: 'upsertBy', message: `no column maps to ${opts.upsertKey}, the upsert key` });
  }
  if (header.length === 0 || columns.every((c) => c === null)) errors.push({ path: 'header', message: 'no column maps to a field' });
  if (errors.length) throw validationError(errors, `The file header does not fit ${obj.def.name}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`.slice(0, 2000));
  return { columns, described, keyColumn: keyColumn !== null && keyColumn >= 0 ? keyColumn : null };
}

export interface CellError {
  field: string | null;
  message: string;
}

const TEXT_TYPES = new Set(['text', 'textarea', 'email', 'phone', 'url']);
const NUMBER = /^-?\d+(\.\d+)?$/;
const PHONE_OR_NUMBER = /^[+-][\d\s()./-]*$/;

/**
 * A cell as the JSON API would receive it. Empty cells are "not given" (defaults apply
 * on insert; the stored value stays on update). Text a spreadsheet would run as a
 * formula is refused; an apostrophe-escaped one (as exports write it) is unescaped.
 */
export function cellValue(field: ResolvedField, raw: string): { value: Json | undefined } | CellError {
  if (raw === '') return { value: undefined };
  if (TEXT_TYPES.has(field.type)) {
    if (raw.charCodeAt(0) === 0x27 && raw.length > 1 && FORMULA_START.has(raw.charCodeAt(1))) return { value: raw.slice(1) };
    const first = raw.charCodeAt(0);
    if (first === 0x3d || first === 0x40 || ((first === 0x2b || first === 0x2d) && !PHONE_OR_NUMBER.test(raw))) {
      return {
        field: field.name,
        message: `looks like a spreadsheet formula (starts with ${raw[0]}); formulas are not imported — prefix the cell with ' to store it as text`,
      };
    }
    return { value: field.type === 'text' || field.type === 'textarea' ? raw : raw.trim() };
  }
  const s = raw.trim();
  if (s === '') return { value: undefined };
  switch (field.type) {
    case 'integer':
    case 'number':
      return { value: NUMBER.test(s) ? Number(s) : s };
    case 'boolean': {
      const l = s.toLowerCase();
      if (['true', 'yes', '1'].includes(l)) return { value: true };
      if (['false', 'no', '0'].includes(l)) return { value: false };
      return { value: s };
    }
    case 'currency': {
      const m = /^(-?\d+(?:\.\d+)?)\s+([A-Za-z]{3})$/.exec(s) ?? /^([A-Za-z]{3})\s+(-?\d+(?:\.\d+)?)$/.exec(s);
      if (!m) return { field: field.name, message: 'must be an amount and an ISO 4217 code, e.g. "1250.00 EUR"' };
      const [amount, currency] = NUMBER.test(m[1]) ? [m[1], m[2]] : [m[2], m[1]];
      return { value: { amount, currency: currency.toUpperCase() } };
    }
    default:
      return { value: s };
  }
}

/** The key as it is compared: emails and domains ignore case. */
export function normalizeKey(key: UpsertKey, value: Json | undefined): string | null {
  if (typeof value !== 'string' || value === '') return null;
  return key === 'externalId' ? value : value.toLowerCase();
}

export function badRequest(detail: string): AppError {
  return new AppError('bad_request', detail);
}
