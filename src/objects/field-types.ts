/**
 * Field types: how a value is validated, stored, filtered, sorted and described in
 * OpenAPI. Standard and custom fields share these; nothing is special-cased per object.
 */

export const FIELD_TYPES = [
  'text',
  'textarea',
  'email',
  'phone',
  'url',
  'integer',
  'number',
  'decimal',
  'currency',
  'currencyCode',
  'boolean',
  'date',
  'datetime',
  'picklist',
  'lookup',
  'uuid',
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/** Types a custom field may have (API.md). */
export const CUSTOM_FIELD_TYPES = [
  'text',
  'textarea',
  'email',
  'phone',
  'url',
  'number',
  'boolean',
  'date',
  'datetime',
  'picklist',
  'currency',
  'lookup',
] as const;
export type CustomFieldType = (typeof CUSTOM_FIELD_TYPES)[number];

export const FILTER_OPS = ['eq', 'ne', 'in', 'lt', 'lte', 'gt', 'gte', 'contains', 'startsWith', 'isNull'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

export interface FieldDef {
  name: string;
  label: string;
  type: FieldType;
  /** SQL column for standard fields; custom fields live in the `custom` jsonb column. */
  column?: string;
  required?: boolean;
  maxLength?: number;
  options?: readonly string[];
  defaultValue?: string;
  /** For lookups: the object the id points to. */
  lookup?: string;
  /** Full-text weight; fields without one are not searched. */
  searchWeight?: 'A' | 'B' | 'C' | 'D';
  /** Set by the system (system fields, conversion results); rejected in requests. */
  readOnly?: boolean;
  custom?: boolean;
  description?: string;
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export class FieldValueError extends Error {}

const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:"]+$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DECIMAL = /^-?\d{1,18}(\.\d{1,2})?$/;
const CURRENCY_CODE = /^[A-Z]{3}$/;

export function isUuid(v: string): boolean {
  return UUID.test(v);
}

function checkString(v: unknown, max: number): string {
  if (typeof v !== 'string') throw new FieldValueError('must be a string');
  if (v.length > max) throw new FieldValueError(`must be at most ${max} characters`);
  if (v.includes('\u0000')) throw new FieldValueError('must not contain NUL characters');
  if (!v.isWellFormed()) throw new FieldValueError('must be valid Unicode');
  return v;
}

function validDate(v: string): boolean {
  const m = DATE.exec(v);
  // PostgreSQL has no year 0 (it would answer a 500, not a 400).
  if (!m || m[1] === '0000') return false;
  const d = new Date(`${v}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v;
}

function decimal(v: unknown): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new FieldValueError('must be a finite decimal');
    v = String(v);
  }
  if (typeof v !== 'string' || !DECIMAL.test(v)) {
    throw new FieldValueError('must be a decimal string with at most 18 digits and 2 decimals, e.g. "1250.00"');
  }
  // One spelling per value ("1250" -> "1250.00"), as NUMERIC(20,2) returns it.
  const [whole, frac = ''] = v.split('.');
  const digits = whole.replace(/^(-?)0+(?=\d)/, '$1');
  return `${digits === '-0' && /^0*$/.test(frac) ? '0' : digits}.${frac.padEnd(2, '0')}`;
}

/** Validates and normalises one value for a field. null clears (unless required). */
export function normalizeValue(field: FieldDef, v: unknown): Json {
  if (v === null) {
    if (field.required) throw new FieldValueError('is required');
    return null;
  }
  switch (field.type) {
    case 'text':
    case 'phone':
      return checkString(v, field.maxLength ?? 255);
    case 'textarea':
      return checkString(v, field.maxLength ?? 32_000);
    case 'url': {
      const s = checkString(v, field.maxLength ?? 2048);
      if (!/^https?:\/\/[^\s]+$/i.test(s) && !/^[\w.-]+\.[a-z]{2,}(\/[^\s]*)?$/i.test(s)) {
        throw new FieldValueError('must be a URL');
      }
      return s;
    }
    case 'email': {
      const s = checkString(v, 320);
      if (!EMAIL.test(s)) throw new FieldValueError('must be an email address');
      return s;
    }
    case 'integer':
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || Math.abs(v) > 2_147_483_647) {
        throw new FieldValueError('must be an integer');
      }
      return v;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > 1e15) {
        throw new FieldValueError('must be a number');
      }
      return v;
    case 'decimal':
      return decimal(v);
    case 'currency': {
      if (typeof v !== 'object' || Array.isArray(v)) {
        throw new FieldValueError('must be { amount: "decimal", currency: "ISO 4217 code" }');
      }
      const o = v as Record<string, unknown>;
      const extra = Object.keys(o).filter((k) => k !== 'amount' && k !== 'currency');
      if (extra.length) throw new FieldValueError(`has unknown keys: ${extra.join(', ')}`);
      const amount = decimal(o.amount);
      if (typeof o.currency !== 'string' || !CURRENCY_CODE.test(o.currency)) {
        throw new FieldValueError('currency must be an ISO 4217 code such as "EUR"');
      }
      return { amount, currency: o.currency };
    }
    case 'currencyCode':
      if (typeof v !== 'string' || !CURRENCY_CODE.test(v)) throw new FieldValueError('must be an ISO 4217 code such as "EUR"');
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') throw new FieldValueError('must be true or false');
      return v;
    case 'date':
      if (typeof v !== 'string' || !validDate(v)) throw new FieldValueError('must be a date (YYYY-MM-DD)');
      return v;
    case 'datetime': {
      if (typeof v !== 'string' || !DATETIME.test(v) || !validDate(v.slice(0, 10))) {
        throw new FieldValueError('must be an RFC 3339 date-time, e.g. 2026-01-31T09:30:00Z');
      }
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) throw new FieldValueError('must be an RFC 3339 date-time');
      // An offset can push the instant out of 0001..9999 (e.g. 9999-12-31T23:00-05:00).
      const iso = d.toISOString();
      if (!/^\d{4}-/.test(iso) || iso.startsWith('0000')) throw new FieldValueError('must be between years 0001 and 9999 in UTC');
      return iso;
    }
    case 'picklist':
      if (typeof v !== 'string' || !(field.options ?? []).includes(v)) {
        throw new FieldValueError(`must be one of: ${(field.options ?? []).join(', ')}`);
      }
      return v;
    case 'lookup':
    case 'uuid':
      if (typeof v !== 'string' || !UUID.test(v)) throw new FieldValueError('must be a UUID');
      return v.toLowerCase();
  }
}

/** Ops each type supports in list filters. */
export function opsFor(type: FieldType): readonly FilterOp[] {
  switch (type) {
    case 'text':
    case 'textarea':
    case 'email':
    case 'phone':
    case 'url':
      return ['eq', 'ne', 'in', 'lt', 'lte', 'gt', 'gte', 'contains', 'startsWith', 'isNull'];
    case 'integer':
    case 'number':
    case 'decimal':
    case 'currency':
    case 'date':
    case 'datetime':
      return ['eq', 'ne', 'in', 'lt', 'lte', 'gt', 'gte', 'isNull'];
    case 'boolean':
      return ['eq', 'ne', 'isNull'];
    case 'picklist':
    case 'currencyCode':
    case 'lookup':
    case 'uuid':
      return ['eq', 'ne', 'in', 'isNull'];
  }
}

/** Parses a query-string filter operand into a value of the field's type. */
export function parseFilterOperand(field: FieldDef, raw: string): Json {
  switch (field.type) {
    case 'integer':
    case 'number': {
      if (!/^-?\d+(\.\d+)?$/.test(raw)) throw new FieldValueError('must be a number');
      const n = Number(raw);
      // Out of the column's range would be a database error (500), not an empty answer.
      if (field.type === 'integer' && (!Number.isSafeInteger(n) || Math.abs(n) > 2_147_483_647)) {
        throw new FieldValueError('must be an integer from -2147483647 to 2147483647');
      }
      if (!Number.isFinite(n) || Math.abs(n) > 1e15) throw new FieldValueError('must be a number of at most 1e15');
      return n;
    }
    case 'decimal':
    case 'currency':
      return decimal(raw);
    case 'boolean':
      if (raw !== 'true' && raw !== 'false') throw new FieldValueError('must be true or false');
      return raw === 'true';
    case 'datetime': {
      if (DATE.test(raw) && validDate(raw)) return new Date(`${raw}T00:00:00Z`).toISOString();
      return normalizeValue({ ...field, required: true }, raw);
    }
    default:
      return normalizeValue({ ...field, required: true }, raw);
  }
}

/** SQL type a value of this field is compared as. */
export function sqlType(type: FieldType): string {
  switch (type) {
    case 'integer':
      return 'integer';
    case 'number':
      return 'double precision';
    case 'decimal':
    case 'currency':
      return 'numeric';
    case 'boolean':
      return 'boolean';
    case 'date':
      return 'date';
    case 'datetime':
      return 'timestamptz';
    case 'lookup':
    case 'uuid':
      return 'uuid';
    default:
      return 'text';
  }
}

/** JSON Schema (OpenAPI 3.1) of a field's value. */
export function jsonSchemaFor(field: FieldDef): Record<string, unknown> {
  const base: Record<string, unknown> = { description: field.description ?? field.label };
  const nullable = (s: Record<string, unknown>) =>
    field.required ? s : { ...s, type: [s.type as string, 'null'] };
  switch (field.type) {
    case 'text':
    case 'phone':
      return nullable({ ...base, type: 'string', maxLength: field.maxLength ?? 255 });
    case 'textarea':
      return nullable({ ...base, type: 'string', maxLength: field.maxLength ?? 32_000 });
    case 'url':
      return nullable({ ...base, type: 'string', maxLength: 2048 });
    case 'email':
      return nullable({ ...base, type: 'string', format: 'email', maxLength: 320 });
    case 'integer':
      return nullable({ ...base, type: 'integer' });
    case 'number':
      return nullable({ ...base, type: 'number' });
    case 'decimal':
      return nullable({ ...base, type: 'string', pattern: DECIMAL.source });
    case 'currency':
      return nullable({
        ...base,
        type: 'object',
        additionalProperties: false,
        required: ['amount', 'currency'],
        properties: {
          amount: { type: 'string', pattern: DECIMAL.source },
          currency: { type: 'string', pattern: CURRENCY_CODE.source },
        },
      });
    case 'currencyCode':
      return nullable({ ...base, type: 'string', pattern: CURRENCY_CODE.source });
    case 'boolean':
      return nullable({ ...base, type: 'boolean' });
    case 'date':
      return nullable({ ...base, type: 'string', format: 'date' });
    case 'datetime':
      return nullable({ ...base, type: 'string', format: 'date-time' });
    case 'picklist':
      return field.required
        ? { ...base, type: 'string', enum: [...(field.options ?? [])] }
        : { ...base, type: ['string', 'null'], enum: [...(field.options ?? []), null] };
    case 'lookup':
    case 'uuid':
      return nullable({ ...base, type: 'string', format: 'uuid' });
  }
}
