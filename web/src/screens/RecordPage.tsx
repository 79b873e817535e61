import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useId, useState } from 'react';
import { api, type ApiRecord, createRecord, deleteRecord, errorMessage, getRecord, listRecords } from '../api/client.ts';
import { useRecordTitle } from '../api/lookups.ts';
import { can, type FieldMeta, fieldOf, type ObjectMeta, recordTitle, SYSTEM_FIELD_NAMES, useObjectMeta } from '../api/metadata.ts';
import { putRecord, useSaveRecord } from '../components/conflict.tsx';
import { FieldInput, FieldValue, LookupInput } from '../components/fields.tsx';
import { RecordForm } from '../components/RecordForm.tsx';
import { Badge, Empty, ErrorState, Loading, Modal, PageHeader, useToast } from '../components/ui.tsx';
import { type Draft, formatDateTime, formatValue, fromDraft, humanize, toDraft, validateValue } from '../lib/fields.ts';
import { Link, listPath, navigate, recordPath, useLocation } from '../lib/router.tsx';

function useRecord(object: string, id: string) {
  return useQuery({ queryKey: ['record', object, id], queryFn: ({ signal }) => getRecord(object, id, signal) });
}

export function RecordPage({ object, id }: { object: string; id: string }) {
  const { meta, all, isLoading: metaLoading, error: metaError } = useObjectMeta(object);
  const rec = useRecord(object, id);
  const [dialog, setDialog] = useState<'delete' | 'convert' | null>(null);
  if (metaLoading || rec.isLoading) return <Loading />;
  if (metaError) return <ErrorState error={metaError} />;
  if (!meta) return <Empty title={`There is no object called “${object}”.`} />;
  if (rec.error) return <ErrorState error={rec.error} title={`Cannot show this ${meta.singular}`} retry={() => void rec.refetch()} />;
  const r = rec.data!;
  const title = recordTitle(meta, r);
  const isLead = object === 'leads';
  const converted = isLead && (r.status === 'converted' || Boolean(r.convertedAt));

  return (
    <div className="record-page">
      <nav className="breadcrumbs" aria-label="Breadcrumb">
        <Link to={listPath(object)}>{meta.labelPlural}</Link> <span aria-hidden="true">/</span> <span>{title}</span>
      </nav>
      <PageHeader
        title={title}
        sub={
          <>
            <Badge>{meta.label}</Badge> <span className="muted">Version {r.version} · updated {formatDateTime(String(r.updatedAt))}</span>
          </>
        }
      >
        {isLead && !converted && can(meta, 'update') && (
          <button type="button" className="btn btn-primary" onClick={() => setDialog('convert')}>
            Convert lead
          </button>
        )}
        {can(meta, 'update') && (
          <Link className="btn" to={`${recordPath(object, id)}/edit`}>
            Edit
          </Link>
        )}
        {can(meta, 'delete') && (
          <button type="button" className="btn btn-danger" onClick={() => setDialog('delete')}>
            Delete
          </button>
        )}
      </PageHeader>
      {converted && (
        <div className="notice">
          Converted {r.convertedAt ? formatDateTime(String(r.convertedAt)) : ''}:{' '}
          {typeof r.convertedAccountId === 'string' && <LinkTo object="accounts" id={r.convertedAccountId} />}{' '}
          {typeof r.convertedContactId === 'string' && <LinkTo object="contacts" id={r.convertedContactId} />}{' '}
          {typeof r.convertedOpportunityId === 'string' && <LinkTo object="opportunities" id={r.convertedOpportunityId} />}
        </div>
      )}
      <div className="record-layout">
        <div className="record-main">
          <section className="card" aria-labelledby="details-h">
            <h2 id="details-h">Details</h2>
            <dl className="field-list">
              {meta.fields
                .filter((f) => !SYSTEM_FIELD_NAMES.has(f.name) || f.name === 'createdAt')
                .map((f) => (
                  <InlineField key={f.name} meta={meta} field={f} record={r} editable={can(meta, 'update') && !f.readOnly} />
                ))}
            </dl>
          </section>
          <RelatedLists meta={meta} all={all} record={r} />
        </div>
        <aside className="record-side">
          <Timeline meta={meta} record={r} />
        </aside>
      </div>
      {dialog === 'delete' && (
        <DeleteDialog
          meta={meta}
          record={r}
          onClose={() => setDialog(null)}
        />
      )}
      {dialog === 'convert' && <ConvertLeadDialog lead={r} onClose={() => setDialog(null)} />}
    </div>
  );
}

function LinkTo({ object, id }: { object: string; id: string }) {
  const title = useRecordTitle(object, id);
  return <Link to={recordPath(object, id)}>{title ?? object}</Link>;
}

/** One field with click-to-edit; saves just that field with If-Match. */
function InlineField({ meta, field, record, editable }: { meta: ObjectMeta; field: FieldMeta; record: ApiRecord; editable: boolean }) {
  const [draft, setDraft] = useState<Draft | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const save = useSaveRecord();
  const toast = useToast();
  const inputId = useId();

  const start = () => {
    setDraft(toDraft(field, record[field.name]));
    setError(null);
  };
  const cancel = () => {
    setDraft(null);
    setError(null);
  };
  const commit = async (e?: FormEvent) => {
    e?.preventDefault();
    if (draft === null) return;
    const v = fromDraft(field, draft);
    const msg = validateValue(field, v);
    if (msg) {
      setError(`${field.label} ${msg}`);
      return;
    }
    if (JSON.stringify(v) === JSON.stringify(record[field.name] ?? null)) return cancel();
    setBusy(true);
    try {
      const saved = await save(meta.name, record, { [field.name]: v });
      setDraft(null);
      if (saved) toast('ok', `${field.label} saved.`);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  if (draft !== null) {
    return (
      <div className="field-row editing">
        <dt>
          <label htmlFor={inputId}>{field.label}</label>
        </dt>
        <dd>
          <form
            className="inline-edit"
            onSubmit={(e) => void commit(e)}
            onKeyDown={(e) => {
              if (e.key === 'Escape') {
                e.stopPropagation();
                cancel();
              }
            }}
          >
            <FieldInput field={field} id={inputId} value={draft} onChange={setDraft} invalid={Boolean(error)} autoFocus />
            <button type="submit" className="btn btn-primary btn-sm" disabled={busy}>
              {busy ? 'Saving…' : 'Save'}
            </button>
            <button type="button" className="btn btn-sm" onClick={cancel} disabled={busy}>
              Cancel
            </button>
            {error && (
              <div className="field-error" role="alert">
                {error}
              </div>
            )}
          </form>
        </dd>
      </div>
    );
  }
  return (
    <div className="field-row">
      <dt>
        {field.label}
        {field.custom && <span className="custom-tag"> custom</span>}
      </dt>
      <dd>
        <span className="field-value" data-field={field.name}>
          <FieldValue field={field} value={record[field.name]} record={record} />
        </span>
        {editable && (
          <button type="button" className="icon-btn edit-btn" aria-label={`Edit ${field.label}`} onClick={start}>
            ✎
          </button>
        )}
      </dd>
    </div>
  );
}

/** Every object with a lookup to this one gets a related list, custom lookups included. */
function RelatedLists({ meta, all, record }: { meta: ObjectMeta; all: ObjectMeta[]; record: ApiRecord }) {
  const links: { obj: ObjectMeta; field: FieldMeta }[] = [];
  for (const o of all) {
    for (const f of o.fields) if (f.type === 'lookup' && f.lookup === meta.name && !f.readOnly) links.push({ obj: o, field: f });
  }
  if (links.length === 0) return null;
  return (
    <>
      {links.map(({ obj, field }) => (
        <RelatedList key={`${obj.name}.${field.name}`} obj={obj} field={field} record={record} multiple={links.filter((l) => l.obj.name === obj.name).length > 1} />
      ))}
    </>
  );
}

function RelatedList({ obj, field, record, multiple }: { obj: ObjectMeta; field: FieldMeta; record: ApiRecord; multiple: boolean }) {
  const q = useQuery({
    queryKey: ['related', obj.name, field.name, record.id],
    queryFn: ({ signal }) => listRecords(obj.name, { filters: [{ field: field.name, op: 'eq', value: record.id }], sort: obj.defaultSort, limit: 10 }, signal),
  });
  const headingId = useId();
  const extra = obj.fields.filter((f) => !obj.titleFields.includes(f.name) && ['picklist', 'decimal', 'date', 'email'].includes(f.type)).slice(0, 2);
  return (
    <section className="card" aria-labelledby={headingId}>
      <div className="card-header">
        <h2 id={headingId}>
          {obj.labelPlural}
          {multiple ? ` (${field.label})` : ''}
          {q.data && <span className="count"> {q.data.data.length}{q.data.nextCursor ? '+' : ''}</span>}
        </h2>
        {can(obj, 'create') && (
          <Link className="btn btn-sm" to={`/o/${obj.name}/new?${field.name}=${record.id}`}>
            New {obj.singular}
          </Link>
        )}
      </div>
      {q.isLoading && <Loading />}
      {q.error && <ErrorState error={q.error} />}
      {q.data && q.data.data.length === 0 && <p className="muted">None yet.</p>}
      {q.data && q.data.data.length > 0 && (
        <ul className="related-list">
          {q.data.data.map((r) => (
            <li key={r.id}>
              <Link to={recordPath(obj.name, r.id)}>{recordTitle(obj, r)}</Link>
              {extra.map((f) => (r[f.name] != null ? <span key={f.name} className="muted"> · {formatValue(f, r[f.name], r)}</span> : null))}
            </li>
          ))}
        </ul>
      )}
      {q.data?.nextCursor && (
        <Link to={`/o/${obj.name}`} className="more-link">
          See all in {obj.labelPlural}
        </Link>
      )}
    </section>
  );
}

interface HistoryEntry {
  at: string;
  actorId: string | null;
  action: string;
  field: string;
  oldValue: unknown;
  newValue: unknown;
  auditSeq?: number;
}

/** Field history and activities together, newest first, with a quick-add form. */
function Timeline({ meta, record }: { meta: ObjectMeta; record: ApiRecord }) {
  const activitiesMeta = useObjectMeta('activities').meta;
  const related = activitiesMeta ? fieldOf(activitiesMeta, 'relatedObject')?.options?.includes(meta.name) : false;
  const history = useQuery({
    queryKey: ['history', meta.name, record.id],
    queryFn: async ({ signal }) => (await api<{ data: HistoryEntry[] }>(`/api/v1/${meta.name}/${record.id}/history`, { signal })).data.data,
  });
  const activities = useQuery({
    queryKey: ['related', 'activities', 'timeline', record.id],
    enabled: Boolean(related),
    queryFn: ({ signal }) =>
      listRecords(
        'activities',
        {
          filters: [
            { field: 'relatedObject', op: 'eq', value: meta.name },
            { field: 'relatedId', op: 'eq', value: record.id },
          ],
          sort: '-createdAt',
          limit: 50,
        },
        signal,
      ),
  });
  type Item = { at: string; key: string; node: React.ReactNode };
  const items: Item[] = [];
  // One audit entry per change: group its fields into one timeline item.
  const groups = new Map<string, HistoryEntry[]>();
  for (const h of history.data ?? []) {
    const k = `${h.auditSeq ?? h.at}`;
    groups.set(k, [...(groups.get(k) ?? []), h]);
  }
  for (const [k, hs] of groups) {
    items.push({ at: hs[0].at, key: `h-${k}`, node: <HistoryItem meta={meta} entries={hs} /> });
  }
  for (const a of activities.data?.data ?? []) {
    items.push({ at: String(a.createdAt), key: `a-${a.id}`, node: <ActivityItem activity={a} /> });
  }
  items.sort((a, b) => b.at.localeCompare(a.at));

  return (
    <section className="card timeline" aria-labelledby="timeline-h">
      <h2 id="timeline-h">Timeline</h2>
      {related && activitiesMeta && can(activitiesMeta, 'create') && <QuickActivity object={meta.name} id={record.id} />}
      {(history.isLoading || activities.isLoading) && <Loading />}
      {history.error && <ErrorState error={history.error} />}
      {activities.error && <ErrorState error={activities.error} />}
      {history.isSuccess && items.length === 0 && <p className="muted">Nothing has happened here yet.</p>}
      <ol className="timeline-list">
        {items.map((i) => (
          <li key={i.key}>{i.node}</li>
        ))}
      </ol>
    </section>
  );
}

function Actor({ id }: { id: string | null }) {
  const name = useRecordTitle('users', id);
  return <>{id ? (name ?? 'Someone') : 'The system'}</>;
}

function HistoryItem({ meta, entries }: { meta: ObjectMeta; entries: HistoryEntry[] }) {
  const h = entries[0];
  const created = h.action === 'create';
  return (
    <div className="tl-item tl-history">
      <div className="tl-meta">
        <Actor id={h.actorId} /> · <time dateTime={h.at}>{formatDateTime(h.at)}</time>
      </div>
      {created ? (
        <div>Created this {meta.singular}</div>
      ) : h.action === 'delete' ? (
        <div>Deleted</div>
      ) : (
        <ul className="tl-changes">
          {entries.map((e) => {
            const f = fieldOf(meta, e.field);
            return (
              <li key={e.field}>
                <strong>{f?.label ?? e.field}</strong>: <span className="old">{formatValue(f, e.oldValue) || '—'}</span> →{' '}
                <span className="new">{formatValue(f, e.newValue) || '—'}</span>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

function ActivityItem({ activity }: { activity: ApiRecord }) {
  const save = useSaveRecord();
  const toast = useToast();
  const done = Boolean(activity.completedAt);
  return (
    <div className={`tl-item tl-activity${done ? ' done' : ''}`}>
      <div className="tl-meta">
        <Badge tone="activity">{humanize(String(activity.type))}</Badge> · <time dateTime={String(activity.createdAt)}>{formatDateTime(String(activity.createdAt))}</time>
        {typeof activity.dueAt === 'string' && <> · due {formatDateTime(activity.dueAt)}</>}
      </div>
      <div className="tl-subject">
        <Link to={recordPath('activities', activity.id)}>{String(activity.subject)}</Link>
      </div>
      {typeof activity.body === 'string' && activity.body && <p className="tl-body">{activity.body}</p>}
      {activity.type === 'task' && (
        <label className="check">
          <input
            type="checkbox"
            checked={done}
            onChange={() =>
              void save('activities', activity, { completedAt: done ? null : new Date().toISOString() }).catch((err: unknown) => toast('error', errorMessage(err)))
            }
          />
          Done
        </label>
      )}
    </div>
  );
}

function QuickActivity({ object, id }: { object: string; id: string }) {
  const [type, setType] = useState('note');
  const [subject, setSubject] = useState('');
  const [due, setDue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const qc = useQueryClient();
  const meta = useObjectMeta('activities').meta;
  const types = (meta && fieldOf(meta, 'type')?.options) ?? ['task', 'call', 'meeting', 'note', 'email'];
  const formId = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!subject.trim()) {
      setError('Subject is required');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { type, subject: subject.trim(), relatedObject: object, relatedId: id };
      if (due) body.dueAt = new Date(due).toISOString();
      await createRecord('activities', body);
      setSubject('');
      setDue('');
      await qc.invalidateQueries({ queryKey: ['related', 'activities', 'timeline', id] });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="quick-activity" onSubmit={(e) => void submit(e)} aria-label="Add activity">
      <div className="qa-row">
        <label htmlFor={`${formId}-type`} className="sr-only">
          Type
        </label>
        <select id={`${formId}-type`} value={type} onChange={(e) => setType(e.target.value)}>
          {types.map((t) => (
            <option key={t} value={t}>
              {humanize(t)}
            </option>
          ))}
        </select>
        <label htmlFor={`${formId}-subject`} className="sr-only">
          Subject
        </label>
        <input id={`${formId}-subject`} placeholder="Log a call, add a note or a task…" value={subject} onChange={(e) => setSubject(e.target.value)} aria-invalid={Boolean(error) || undefined} />
      </div>
      <div className="qa-row">
        {(type === 'task' || type === 'meeting' || type === 'call') && (
          <label className="inline-label">
            <span>Due</span>
            <input type="datetime-local" value={due} onChange={(e) => setDue(e.target.value)} />
          </label>
        )}
        <button type="submit" className="btn btn-primary btn-sm" disabled={busy}>
          {busy ? 'Adding…' : 'Add'}
        </button>
      </div>
      {error && (
        <div className="field-error" role="alert">
          {error}
        </div>
      )}
    </form>
  );
}

function DeleteDialog({ meta, record, onClose }: { meta: ObjectMeta; record: ApiRecord; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const qc = useQueryClient();
  const toast = useToast();
  const del = async () => {
    setBusy(true);
    try {
      await deleteRecord(meta.name, record.id, record.version);
      await qc.invalidateQueries({ queryKey: ['list', meta.name] });
      toast('ok', `${meta.label} deleted.`);
      navigate(listPath(meta.name), { replace: true });
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  };
  return (
    <Modal
      title={`Delete this ${meta.singular}?`}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-danger" onClick={() => void del()} disabled={busy}>
            {busy ? 'Deleting…' : 'Delete'}
          </button>
        </>
      }
    >
      <p>“{recordTitle(meta, record)}” will be removed from lists and search. An administrator can restore it.</p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </Modal>
  );
}

/** Lead conversion: an account (existing or new from the company), a contact, optionally an opportunity. */
function ConvertLeadDialog({ lead, onClose }: { lead: ApiRecord; onClose: () => void }) {
  const [accountId, setAccountId] = useState('');
  const [createOpportunity, setCreateOpportunity] = useState(true);
  const [opportunityName, setOpportunityName] = useState(`${String(lead.company ?? lead.lastName ?? 'New')} deal`);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const qc = useQueryClient();
  const toast = useToast();
  const ids = useId();
  const convert = async () => {
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { createOpportunity };
      if (accountId) body.accountId = accountId;
      if (createOpportunity && opportunityName.trim()) body.opportunityName = opportunityName.trim();
      const res = await api<{ accountId: string; contactId: string; opportunityId: string | null }>(`/api/v1/leads/${lead.id}/convert`, {
        method: 'POST',
        body,
      });
      await qc.invalidateQueries();
      toast('ok', 'Lead converted.');
      onClose();
      navigate(res.data.opportunityId ? recordPath('opportunities', res.data.opportunityId) : recordPath('contacts', res.data.contactId));
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  };
  return (
    <Modal
      title="Convert lead"
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-primary" onClick={() => void convert()} disabled={busy}>
            {busy ? 'Converting…' : 'Convert'}
          </button>
        </>
      }
    >
      <p>
        Creates a contact from this lead{lead.company ? `, attached to “${String(lead.company)}”` : ''}. Converting twice never makes a second account.
      </p>
      <div className="stack">
        <label htmlFor={`${ids}-acc`}>Existing account (leave empty to create one from the company)</label>
        <LookupInput id={`${ids}-acc`} object="accounts" value={accountId} onChange={setAccountId} />
        <label className="check">
          <input type="checkbox" checked={createOpportunity} onChange={(e) => setCreateOpportunity(e.target.checked)} /> Create an opportunity
        </label>
        {createOpportunity && (
          <>
            <label htmlFor={`${ids}-opp`}>Opportunity name</label>
            <input id={`${ids}-opp`} value={opportunityName} onChange={(e) => setOpportunityName(e.target.value)} />
          </>
        )}
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </Modal>
  );
}

export function RecordNew({ object }: { object: string }) {
  const { meta, isLoading, error } = useObjectMeta(object);
  const { search } = useLocation();
  const qc = useQueryClient();
  const toast = useToast();
  if (isLoading) return <Loading />;
  if (error) return <ErrorState error={error} />;
  if (!meta) return <Empty title={`There is no object called “${object}”.`} />;
  const preset: Record<string, unknown> = {};
  for (const [k, v] of search) if (fieldOf(meta, k)) preset[k] = v;
  return (
    <div className="form-page">
      <PageHeader title={`New ${meta.singular}`} />
      <div className="card">
        <RecordForm
          meta={meta}
          preset={preset}
          onCancel={() => window.history.back()}
          submit={async (values) => {
            const created = await createRecord(object, values);
            putRecord(qc, object, created);
            toast('ok', `${meta.label} created.`);
            navigate(recordPath(object, created.id), { replace: true });
          }}
        />
      </div>
    </div>
  );
}

export function RecordEdit({ object, id }: { object: string; id: string }) {
  const { meta, isLoading, error } = useObjectMeta(object);
  const rec = useRecord(object, id);
  const save = useSaveRecord();
  const toast = useToast();
  if (isLoading || rec.isLoading) return <Loading />;
  if (error || rec.error) return <ErrorState error={error ?? rec.error} />;
  if (!meta) return <Empty title={`There is no object called “${object}”.`} />;
  const r = rec.data!;
  return (
    <div className="form-page">
      <PageHeader title={`Edit ${recordTitle(meta, r)}`} />
      <div className="card">
        <RecordForm
          key={r.version}
          meta={meta}
          record={r}
          onCancel={() => navigate(recordPath(object, id))}
          submit={async (values) => {
            if (Object.keys(values).length) {
              const saved = await save(object, r, values);
              if (saved) toast('ok', 'Saved.');
              else return; // kept the other person's version; stay on the form with fresh values
            }
            navigate(recordPath(object, id));
          }}
        />
      </div>
    </div>
  );
}
