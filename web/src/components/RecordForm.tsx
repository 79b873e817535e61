import { type FormEvent, useId, useState } from 'react';
import { ApiError, type ApiRecord, errorMessage } from '../api/client.ts';
import { editableFields, type FieldMeta, type ObjectMeta } from '../api/metadata.ts';
import { type Draft, fromDraft, sameValue, toDraft, validateValue } from '../lib/fields.ts';
import { FieldInput } from './fields.tsx';

export interface FormProps {
  meta: ObjectMeta;
  /** The record being edited; absent for a new one. */
  record?: ApiRecord;
  /** Values for a new record (e.g. the account when adding a contact from its page). */
  preset?: Record<string, unknown>;
  /** Sends the values; throws ApiError with field errors on a 400. */
  submit: (values: Record<string, unknown>) => Promise<unknown>;
  onCancel?: () => void;
  submitLabel?: string;
  /** Limit the form to these fields (quick create). */
  only?: string[];
}

/** Maps problem+json `errors[].path` ("/amount", "amount", "/currency/amount") to field names. */
export function errorsByField(err: ApiError, fields: FieldMeta[]): { byField: Record<string, string>; other: string[] } {
  const byField: Record<string, string> = {};
  const other: string[] = [];
  const names = new Set(fields.map((f) => f.name));
  for (const e of err.errors) {
    const name = e.path.replace(/^\//, '').split(/[/.[]/)[0];
    if (names.has(name)) byField[name] = byField[name] ? `${byField[name]}; ${e.message}` : e.message;
    else other.push(e.path ? `${e.path}: ${e.message}` : e.message);
  }
  return { byField, other };
}

/** Create and edit form, generated from the object's metadata (custom fields included). */
export function RecordForm({ meta, record, preset, submit, onCancel, submitLabel, only }: FormProps) {
  const formId = useId();
  const fields = editableFields(meta).filter((f) => !only || only.includes(f.name) || f.required);
  const initial = (f: FieldMeta): unknown => (record ? record[f.name] : (preset?.[f.name] ?? f.defaultValue ?? null));
  const [drafts, setDrafts] = useState<Record<string, Draft>>(() => Object.fromEntries(fields.map((f) => [f.name, toDraft(f, initial(f))])));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const check = (f: FieldMeta, d: Draft): string | null => validateValue(f, fromDraft(f, d));

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    const found: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    for (const f of fields) {
      const v = fromDraft(f, drafts[f.name]);
      const msg = validateValue(f, v);
      if (msg) found[f.name] = msg;
      if (record) {
        if (!sameValue(v, record[f.name])) values[f.name] = v;
      } else if (v !== null && !(f.type === 'boolean' && v === false && initial(f) == null)) values[f.name] = v;
    }
    setErrors(found);
    setFormError(null);
    if (Object.keys(found).length) {
      const first = fields.find((f) => found[f.name]);
      if (first) document.getElementById(`${formId}-${first.name}`)?.focus();
      return;
    }
    setBusy(true);
    try {
      await submit(values);
    } catch (err) {
      if (err instanceof ApiError && err.errors.length) {
        const { byField, other } = errorsByField(err, fields);
        setErrors(byField);
        setFormError(other.length ? other.join('; ') : Object.keys(byField).length ? 'Please correct the highlighted fields.' : err.message);
      } else setFormError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="record-form" onSubmit={(e) => void onSubmit(e)} noValidate aria-label={`${record ? 'Edit' : 'New'} ${meta.singular}`}>
      {formError && (
        <div className="form-error" role="alert">
          {formError}
        </div>
      )}
      <div className="form-grid">
        {fields.map((f, i) => {
          const id = `${formId}-${f.name}`;
          const errId = `${id}-error`;
          const wide = f.type === 'textarea';
          return (
            <div key={f.name} className={`form-field${wide ? ' form-field-wide' : ''}${f.type === 'boolean' ? ' form-field-check' : ''}`}>
              <label htmlFor={id}>
                {f.label}
                {f.required && (
                  <span className="req" aria-hidden="true">
                    {' '}
                    *
                  </span>
                )}
                {f.custom && <span className="custom-tag"> custom</span>}
              </label>
              <FieldInput
                field={f}
                id={id}
                value={drafts[f.name]}
                invalid={Boolean(errors[f.name])}
                describedBy={errors[f.name] ? errId : undefined}
                autoFocus={i === 0 && !record}
                onChange={(d) => {
                  setDrafts((s) => ({ ...s, [f.name]: d }));
                  if (errors[f.name]) {
                    const msg = check(f, d);
                    setErrors((s) => {
                      const { [f.name]: _drop, ...rest } = s;
                      return msg ? { ...rest, [f.name]: msg } : rest;
                    });
                  }
                }}
              />
              {errors[f.name] && (
                <div className="field-error" id={errId}>
                  {f.label} {errors[f.name]}
                </div>
              )}
              {f.description && !errors[f.name] && <div className="field-help">{f.description}</div>}
            </div>
          );
        })}
      </div>
      <div className="form-actions">
        {onCancel && (
          <button type="button" className="btn" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
        )}
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Saving…' : (submitLabel ?? (record ? 'Save' : `Create ${meta.singular}`))}
        </button>
      </div>
    </form>
  );
}
