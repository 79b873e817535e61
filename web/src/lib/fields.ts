// The server's own value rules (pure TypeScript, no Node imports), so the form rejects
// exactly what the API would reject, with the same words.
import { FieldValueError, normalizeValue } from '../../../src/objects/field-types.ts';
import type { FieldMeta } from '../api/metadata.ts';

/** What an input holds while the user types: strings, or a boolean for checkboxes. */
export type Draft = string | boolean | { amount: string; currency: string };

export function toDraft(field: FieldMeta, v: unknown): Draft {
  if (v === null || v === undefined) {
    if (field.type === 'boolean') return false;
    if (field.type === 'currency') return { amount: '', currency: '' };
    return '';
  }
  switch (field.type) {
    case 'boolean':
      return v === true;
    case 'currency': {
      const c = v as { amount?: string; currency?: string };
      return { amount: c.amount ?? '', currency: c.currency ?? '' };
    }
    case 'datetime':
      return isoToLocalInput(String(v));
    default:
      return String(v);
  }
}

function isEmptyDraft(d: Draft): boolean {
  if (typeof d === 'string') return d.trim() === '';
  if (typeof d === 'boolean') return false;
  return d.amount.trim() === '' && d.currency.trim() === '';
}

/** Turns a draft into the JSON value the API takes (unvalidated). */
export function fromDraft(field: FieldMeta, d: Draft): unknown {
  if (isEmptyDraft(d)) return null;
  switch (field.type) {
    case 'boolean':
      return d === true;
    case 'integer':
    case 'number': {
      const s = String(d).trim();
      return /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(s) ? Number(s) : s;
    }
    case 'decimal':
      return String(d).trim().replace(/,/g, '');
    case 'currency': {
      const c = d as { amount: string; currency: string };
      return { amount: c.amount.trim().replace(/,/g, ''), currency: c.currency.trim().toUpperCase() };
    }
    case 'currencyCode':
      return String(d).trim().toUpperCase();
    case 'datetime': {
      const t = new Date(String(d));
      return Number.isNaN(t.getTime()) ? String(d) : t.toISOString();
    }
    case 'text':
    case 'textarea':
    case 'email':
    case 'phone':
    case 'url':
      return typeof d === 'string' && field.type !== 'textarea' ? d.trim() : d;
    default:
      return typeof d === 'string' ? d.trim() : d;
  }
}

/** The server's message for a bad value, or null when the API would accept it. */
export function validateValue(field: FieldMeta, value: unknown): string | null {
  if (value === null && field.required) return 'is required';
  try {
    normalizeValue(
      {
        name: field.name,
        label: field.label,
        type: field.type,
        required: field.required,
        options: field.options,
        maxLength: field.maxLength,
        lookup: field.lookup,
      },
      value as never,
    );
    return null;
  } catch (err) {
    if (err instanceof FieldValueError) return err.message;
    throw err;
  }
}

function isoToLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

const moneyFormats = new Map<string, Intl.NumberFormat>();

export function formatMoney(amount: number | string | null | undefined, currency?: string | null): string {
  if (amount === null || amount === undefined || amount === '') return '';
  const n = typeof amount === 'number' ? amount : Number(amount);
  if (!Number.isFinite(n)) return String(amount);
  const key = currency ?? '';
  let f = moneyFormats.get(key);
  if (!f) {
    try {
      f = currency
        ? new Intl.NumberFormat(undefined, { style: 'currency', currency, maximumFractionDigits: 0 })
        : new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
    } catch {
      f = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
    }
    moneyFormats.set(key, f);
  }
  return f.format(n);
}

export function humanize(v: string): string {
  const s = v.replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function formatDate(v: string): string {
  const d = new Date(`${v}T00:00:00`);
  return Number.isNaN(d.getTime()) ? v : dateFmt.format(d);
}

export function formatDateTime(v: string): string {
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? v : dateTimeFmt.format(d);
}

/** A value as plain text (lookups are resolved by the caller). */
export function formatValue(field: FieldMeta | undefined, v: unknown, record?: Record<string, unknown>): string {
  if (v === null || v === undefined || v === '') return '';
  if (!field) return typeof v === 'object' ? JSON.stringify(v) : String(v);
  switch (field.type) {
    case 'boolean':
      return v ? 'Yes' : 'No';
    case 'decimal':
      return field.name === 'amount' ? formatMoney(v as string, (record?.currency as string | null) ?? null) : formatMoney(v as string);
    case 'currency': {
      const c = v as { amount: string; currency: string };
      return formatMoney(c.amount, c.currency);
    }
    case 'integer':
    case 'number':
      return new Intl.NumberFormat().format(v as number);
    case 'date':
      return formatDate(String(v));
    case 'datetime':
      return formatDateTime(String(v));
    case 'picklist':
      return humanize(String(v));
    default:
      return String(v);
  }
}

export function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
