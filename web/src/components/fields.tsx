import { useQuery } from '@tanstack/react-query';
import { useEffect, useId, useRef, useState } from 'react';
import { api, type ApiRecord, listRecords } from '../api/client.ts';
import { useRecordTitle, useUsers } from '../api/lookups.ts';
import { type FieldMeta, recordTitle, useMetadata } from '../api/metadata.ts';
import { type Draft, formatValue, humanize } from '../lib/fields.ts';
import { Link, recordPath } from '../lib/router.tsx';

const SEARCHABLE_OBJECTS = new Set(['accounts', 'contacts', 'leads', 'opportunities', 'cases', 'activities']);
const CURRENCIES = ['USD', 'EUR', 'GBP', 'JPY', 'CHF', 'CAD', 'AUD', 'SEK', 'NOK', 'DKK', 'PLN', 'INR', 'BRL', 'CNY'];

/** A read-only value: lookups become links with the record's title. */
export function FieldValue({ field, value, record }: { field: FieldMeta | undefined; value: unknown; record?: ApiRecord }) {
  if (field?.type === 'lookup' && typeof value === 'string') return <LookupName object={field.lookup ?? ''} id={value} />;
  // Activities point at any object: relatedObject names it, relatedId is the record.
  if (field?.name === 'relatedId' && typeof value === 'string' && typeof record?.relatedObject === 'string') {
    return <LookupName object={record.relatedObject} id={value} />;
  }
  if (field?.type === 'url' && typeof value === 'string' && value) {
    const href = /^https?:\/\//i.test(value) ? value : `https://${value}`;
    return (
      <a href={href} target="_blank" rel="noreferrer noopener">
        {value}
      </a>
    );
  }
  if (field?.type === 'email' && typeof value === 'string' && value) return <a href={`mailto:${value}`}>{value}</a>;
  const text = formatValue(field, value, record);
  return text ? text : <span className="muted">—</span>;
}

export function LookupName({ object, id }: { object: string; id: string }) {
  const title = useRecordTitle(object, id);
  if (object === 'users') return <span>{title ?? 'User'}</span>;
  return <Link to={recordPath(object, id)}>{title ?? '…'}</Link>;
}

interface InputProps {
  field: FieldMeta;
  value: Draft;
  onChange: (v: Draft) => void;
  id: string;
  invalid?: boolean;
  describedBy?: string;
  autoFocus?: boolean;
}

/** The input for one field type. */
export function FieldInput({ field, value, onChange, id, invalid, describedBy, autoFocus }: InputProps) {
  const common = {
    id,
    name: field.name,
    'aria-invalid': invalid || undefined,
    'aria-describedby': describedBy,
    'aria-required': field.required || undefined,
    autoFocus,
  };
  const str = typeof value === 'string' ? value : '';
  switch (field.type) {
    case 'boolean':
      return <input type="checkbox" {...common} checked={value === true} onChange={(e) => onChange(e.target.checked)} />;
    case 'textarea':
      return <textarea {...common} rows={4} value={str} onChange={(e) => onChange(e.target.value)} />;
    case 'picklist':
      return (
        <select {...common} value={str} onChange={(e) => onChange(e.target.value)}>
          <option value="">{field.required ? 'Choose…' : '—'}</option>
          {(field.options ?? []).map((o) => (
            <option key={o} value={o}>
              {humanize(o)}
            </option>
          ))}
        </select>
      );
    case 'date':
      return <input type="date" {...common} value={str} onChange={(e) => onChange(e.target.value)} />;
    case 'datetime':
      return <input type="datetime-local" {...common} value={str} onChange={(e) => onChange(e.target.value)} />;
    case 'integer':
    case 'number':
    case 'decimal':
      return <input type="text" inputMode="decimal" {...common} value={str} onChange={(e) => onChange(e.target.value)} />;
    case 'email':
      return <input type="email" autoComplete="off" {...common} value={str} onChange={(e) => onChange(e.target.value)} />;
    case 'phone':
      return <input type="tel" {...common} value={str} onChange={(e) => onChange(e.target.value)} />;
    case 'currencyCode':
      return (
        <>
          <input type="text" list={`${id}-list`} maxLength={3} {...common} value={str} onChange={(e) => onChange(e.target.value.toUpperCase())} />
          <datalist id={`${id}-list`}>
            {CURRENCIES.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
        </>
      );
    case 'currency': {
      const c = typeof value === 'object' ? value : { amount: '', currency: '' };
      return (
        <span className="currency-input">
          <input type="text" inputMode="decimal" {...common} aria-label={`${field.label} amount`} value={c.amount} onChange={(e) => onChange({ ...c, amount: e.target.value })} />
          <input
            type="text"
            maxLength={3}
            aria-label={`${field.label} currency`}
            placeholder="EUR"
            value={c.currency}
            onChange={(e) => onChange({ ...c, currency: e.target.value.toUpperCase() })}
          />
        </span>
      );
    }
    case 'lookup':
      return <LookupInput {...common} object={field.lookup ?? ''} value={str} onChange={onChange} />;
    default:
      return <input type="text" {...common} value={str} onChange={(e) => onChange(e.target.value)} />;
  }
}

/** A combobox that searches the target object and stores the chosen record's id. */
export function LookupInput({
  object,
  value,
  onChange,
  id,
  ...aria
}: {
  object: string;
  value: string;
  onChange: (v: string) => void;
  id: string;
  name?: string;
  autoFocus?: boolean;
  'aria-invalid'?: boolean;
  'aria-describedby'?: string;
  'aria-required'?: boolean;
}) {
  const title = useRecordTitle(object, value || null);
  const users = useUsers();
  const meta = useMetadata().data?.find((o) => o.name === object);
  const [text, setText] = useState<string | null>(null);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const listId = useId();
  const debounced = useDebounced(text ?? '', 200);
  const wrap = useRef<HTMLDivElement>(null);

  const results = useQuery({
    queryKey: ['lookup-search', object, debounced],
    enabled: open && object !== 'users',
    queryFn: async ({ signal }) => {
      const q = debounced.trim();
      if (q && SEARCHABLE_OBJECTS.has(object)) {
        const res = await api<{ data: { id: string; title: string; subtitle: string | null }[] }>(
          `/api/v1/search?objects=${object}&limit=8&q=${encodeURIComponent(q)}`,
          { signal },
        );
        return res.data.data.map((h) => ({ id: h.id, title: h.title, sub: h.subtitle }));
      }
      const titleField = meta?.titleFields[meta.titleFields.length - 1];
      const page = await listRecords(
        object,
        { filters: q && titleField ? [{ field: titleField, op: 'contains', value: q }] : [], limit: 8, sort: '-updatedAt' },
        signal,
      );
      return page.data.map((r) => ({ id: r.id, title: recordTitle(meta, r), sub: null as string | null }));
    },
  });
  const options =
    object === 'users'
      ? (users.data ?? [])
          .filter((u) => !text || `${u.name} ${u.email}`.toLowerCase().includes(text.toLowerCase()))
          .slice(0, 8)
          .map((u) => ({ id: u.id, title: u.name || u.email, sub: u.email as string | null }))
      : (results.data ?? []);

  useEffect(() => setActive(0), [debounced]);

  const choose = (o: { id: string; title: string } | null) => {
    onChange(o?.id ?? '');
    setText(null);
    setOpen(false);
  };
  const shown = text ?? (value ? (title ?? '') : '');
  return (
    <div
      className="lookup"
      ref={wrap}
      onBlur={(e) => {
        if (!wrap.current?.contains(e.relatedTarget as Node)) {
          setOpen(false);
          setText(null);
        }
      }}
    >
      <input
        type="text"
        id={id}
        role="combobox"
        aria-expanded={open}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={open && options[active] ? `${listId}-${active}` : undefined}
        autoComplete="off"
        placeholder={`Search ${meta?.labelPlural.toLowerCase() ?? object}…`}
        value={shown}
        {...aria}
        onFocus={() => setOpen(true)}
        onChange={(e) => {
          setText(e.target.value);
          setOpen(true);
          if (e.target.value === '') onChange('');
        }}
        onKeyDown={(e) => {
          if (e.key === 'ArrowDown') {
            e.preventDefault();
            setOpen(true);
            setActive((a) => Math.min(a + 1, options.length - 1));
          } else if (e.key === 'ArrowUp') {
            e.preventDefault();
            setActive((a) => Math.max(a - 1, 0));
          } else if (e.key === 'Enter' && open && options[active]) {
            e.preventDefault();
            choose(options[active]);
          } else if (e.key === 'Escape' && open) {
            e.stopPropagation();
            setOpen(false);
            setText(null);
          }
        }}
      />
      {value && (
        <button type="button" className="icon-btn lookup-clear" aria-label="Clear" onClick={() => choose(null)}>
          ×
        </button>
      )}
      {open && (
        <ul className="lookup-list" role="listbox" id={listId}>
          {options.length === 0 && <li className="muted lookup-empty">{results.isFetching ? 'Searching…' : 'No matches'}</li>}
          {options.map((o, i) => (
            <li
              key={o.id}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === active}
              className={i === active ? 'active' : undefined}
              onMouseDown={(e) => {
                e.preventDefault();
                choose(o);
              }}
            >
              {o.title}
              {o.sub && <small className="muted"> · {o.sub}</small>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
