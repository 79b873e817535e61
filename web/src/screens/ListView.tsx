import { useInfiniteQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { type ApiRecord, deleteRecord, errorMessage, type Filter, type FilterOp, listRecords, patchRecord } from '../api/client.ts';
import { useCount } from '../api/aggregate.ts';
import { useUsers } from '../api/lookups.ts';
import { can, defaultColumns, type FieldMeta, fieldOf, type ObjectMeta, useObjectMeta } from '../api/metadata.ts';
import { FieldValue } from '../components/fields.tsx';
import { Empty, ErrorState, Loading, Modal, PageHeader, useToast } from '../components/ui.tsx';
import { humanize } from '../lib/fields.ts';
import { Link, recordPath } from '../lib/router.tsx';
import { deleteView, saveView, useSavedViews, viewsKey } from '../api/views.ts';
import { type ListViewState, loadLastState, nextSort, saveLastState } from '../lib/views.ts';

const OP_LABEL: Record<FilterOp, string> = {
  eq: 'is',
  ne: 'is not',
  in: 'is any of',
  lt: '<',
  lte: '≤',
  gt: '>',
  gte: '≥',
  contains: 'contains',
  startsWith: 'starts with',
  isNull: 'is empty',
};

export function ListView({ object, userId }: { object: string; userId: string }) {
  const { meta, isLoading, error } = useObjectMeta(object);
  if (isLoading) return <Loading />;
  if (error) return <ErrorState error={error} />;
  if (!meta) return <Empty title={`There is no object called “${object}”.`} />;
  return <List meta={meta} userId={userId} />;
}

function initialState(meta: ObjectMeta, userId: string): ListViewState {
  const last = loadLastState(userId, meta.name);
  const names = new Set(meta.fields.map((f) => f.name));
  if (last && last.columns.every((c) => names.has(c)) && last.filters.every((f) => names.has(f.field))) return last;
  return { columns: defaultColumns(meta), filters: [], sort: meta.defaultSort };
}

function List({ meta, userId }: { meta: ObjectMeta; userId: string }) {
  const [state, setState] = useState<ListViewState>(() => initialState(meta, userId));
  const savedViews = useSavedViews(userId, meta.name);
  const views = savedViews.data ?? [];
  const [viewId, setViewId] = useState('');
  const currentView = views.find((v) => v.id === viewId);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [panel, setPanel] = useState<'columns' | 'filters' | null>(null);
  const [bulk, setBulk] = useState<'delete' | 'owner' | null>(null);
  const toast = useToast();
  const qc = useQueryClient();
  const count = useCount(meta.name, state.filters);
  const sentinel = useRef<HTMLDivElement>(null);

  useEffect(() => saveLastState(userId, meta.name, state), [userId, meta.name, state]);

  const fields = useMemo(() => state.columns.map((c) => fieldOf(meta, c)).filter((f): f is FieldMeta => Boolean(f)), [state.columns, meta]);
  const query = useInfiniteQuery({
    queryKey: ['list', meta.name, state.filters, state.sort],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) => listRecords(meta.name, { filters: state.filters, sort: state.sort, limit: 50, cursor: pageParam }, signal),
    getNextPageParam: (last) => last.nextCursor,
  });
  const rows = useMemo(() => query.data?.pages.flatMap((p) => p.data) ?? [], [query.data]);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = query;

  // Infinite scroll, with the button below as the keyboard and fallback path.
  useEffect(() => {
    const el = sentinel.current;
    if (!el || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver((entries) => {
      if (entries[0]?.isIntersecting && hasNextPage && !isFetchingNextPage) void fetchNextPage();
    });
    io.observe(el);
    return () => io.disconnect();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  const allSelected = rows.length > 0 && rows.every((r) => selected.has(r.id));
  const toggleAll = () => setSelected(allSelected ? new Set() : new Set(rows.map((r) => r.id)));
  const toggle = (id: string) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });

  const applyView = (id: string) => {
    setViewId(id);
    const v = views.find((x) => x.id === id);
    if (v) setState({ columns: v.definition.columns, filters: v.definition.filters, sort: v.definition.sort });
    else setState({ columns: defaultColumns(meta), filters: [], sort: meta.defaultSort });
  };
  const storeView = async (name: string) => {
    try {
      const saved = await saveView(meta.name, views, name, state);
      await qc.invalidateQueries({ queryKey: viewsKey(meta.name) });
      setViewId(saved.id);
      toast('ok', `View “${saved.name}” saved.`);
    } catch (err) {
      toast('error', errorMessage(err));
    }
  };
  const removeView = async () => {
    if (!currentView) return;
    try {
      await deleteView(currentView);
      await qc.invalidateQueries({ queryKey: viewsKey(meta.name) });
      setViewId('');
    } catch (err) {
      toast('error', errorMessage(err));
    }
  };
  const total = count.data;

  return (
    <div className="list-view">
      <PageHeader
        title={meta.labelPlural}
        sub={
          total !== undefined
            ? `${total.toLocaleString()} ${total === 1 ? meta.singular : meta.labelPlural.toLowerCase()}${state.filters.length ? ' matching the filters' : ''}`
            : undefined
        }
      >
        {can(meta, 'create') && (
          <Link to={`/o/${meta.name}/new`} className="btn btn-primary">
            New {meta.singular}
          </Link>
        )}
      </PageHeader>

      <div className="toolbar" role="toolbar" aria-label="List options">
        <label className="inline-label">
          <span>View</span>
          <select value={viewId} onChange={(e) => applyView(e.target.value)}>
            <option value="">All {meta.labelPlural.toLowerCase()}</option>
            {views.map((v) => (
              <option key={v.id} value={v.id}>
                {v.name}
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="btn" aria-expanded={panel === 'columns'} onClick={() => setPanel(panel === 'columns' ? null : 'columns')}>
          Columns
        </button>
        <button type="button" className="btn" aria-expanded={panel === 'filters'} onClick={() => setPanel(panel === 'filters' ? null : 'filters')}>
          Filters{state.filters.length ? ` (${state.filters.length})` : ''}
        </button>
        <SaveViewButton current={currentView?.name ?? ''} onSave={(name) => void storeView(name)} />
        {currentView && (
          <button type="button" className="btn btn-ghost" onClick={() => void removeView()}>
            Delete view
          </button>
        )}
        {selected.size > 0 && (
          <span className="bulk-actions" role="group" aria-label="Bulk actions">
            <strong>{selected.size} selected</strong>
            {can(meta, 'update') && (
              <button type="button" className="btn" onClick={() => setBulk('owner')}>
                Change owner
              </button>
            )}
            {can(meta, 'delete') && (
              <button type="button" className="btn btn-danger" onClick={() => setBulk('delete')}>
                Delete
              </button>
            )}
          </span>
        )}
      </div>

      {panel === 'columns' && <ColumnChooser meta={meta} columns={state.columns} onChange={(columns) => setState((s) => ({ ...s, columns }))} />}
      {panel === 'filters' && (
        <FilterEditor
          meta={meta}
          filters={state.filters}
          onApply={(filters) => {
            setState((s) => ({ ...s, filters }));
            setSelected(new Set());
          }}
        />
      )}

      {query.isLoading && <Loading />}
      {query.error && <ErrorState error={query.error} retry={() => void query.refetch()} />}
      {query.isSuccess && rows.length === 0 && (
        <Empty title={state.filters.length ? 'No records match these filters.' : `No ${meta.labelPlural.toLowerCase()} yet.`}>
          {can(meta, 'create') && !state.filters.length && <Link to={`/o/${meta.name}/new`}>Create the first one</Link>}
        </Empty>
      )}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table className="data-table" aria-label={meta.labelPlural}>
            <thead>
              <tr>
                <th className="col-check">
                  <input type="checkbox" aria-label="Select all loaded rows" checked={allSelected} onChange={toggleAll} />
                </th>
                {fields.map((f) => {
                  const dir = state.sort === f.name ? 'ascending' : state.sort === `-${f.name}` ? 'descending' : undefined;
                  return (
                    <th key={f.name} aria-sort={dir} scope="col">
                      {f.sortable ? (
                        <button
                          type="button"
                          className="sort-btn"
                          onClick={() => setState((s) => ({ ...s, sort: nextSort(s.sort, f.name, meta.defaultSort) }))}
                        >
                          {f.label}
                          <span aria-hidden="true">{dir === 'ascending' ? ' ▲' : dir === 'descending' ? ' ▼' : ''}</span>
                        </button>
                      ) : (
                        f.label
                      )}
                    </th>
                  );
                })}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id} className={selected.has(r.id) ? 'selected' : undefined}>
                  <td className="col-check">
                    <input type="checkbox" aria-label="Select row" checked={selected.has(r.id)} onChange={() => toggle(r.id)} />
                  </td>
                  {fields.map((f, i) => (
                    <td key={f.name} data-label={f.label}>
                      {i === 0 ? (
                        <Link to={recordPath(meta.name, r.id)} className="row-link">
                          {formatCell(meta, f, r)}
                        </Link>
                      ) : (
                        <FieldValue field={f} value={r[f.name]} record={r} />
                      )}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div ref={sentinel} />
      {hasNextPage && (
        <div className="load-more">
          <button type="button" className="btn" onClick={() => void fetchNextPage()} disabled={isFetchingNextPage}>
            {isFetchingNextPage ? 'Loading…' : 'Load more'}
          </button>
        </div>
      )}
      {bulk && (
        <BulkDialog
          kind={bulk}
          meta={meta}
          records={rows.filter((r) => selected.has(r.id))}
          onClose={(done) => {
            setBulk(null);
            if (done) setSelected(new Set());
          }}
        />
      )}
    </div>
  );
}

function formatCell(meta: ObjectMeta, f: FieldMeta, r: ApiRecord) {
  if (meta.titleFields.includes(f.name)) {
    const t = meta.titleFields.map((n) => r[n]).filter(Boolean).join(' ');
    return t || '(untitled)';
  }
  return <FieldValue field={f} value={r[f.name]} record={r} />;
}

function SaveViewButton({ current, onSave }: { current: string; onSave: (name: string) => void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(current);
  const id = useId();
  if (!open)
    return (
      <button
        type="button"
        className="btn"
        onClick={() => {
          setName(current);
          setOpen(true);
        }}
      >
        Save view
      </button>
    );
  return (
    <form
      className="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (name.trim()) {
          onSave(name.trim());
          setOpen(false);
        }
      }}
    >
      <label htmlFor={id} className="sr-only">
        View name
      </label>
      <input id={id} value={name} onChange={(e) => setName(e.target.value)} placeholder="View name" autoFocus maxLength={60} />
      <button type="submit" className="btn btn-primary">
        Save
      </button>
      <button type="button" className="btn btn-ghost" onClick={() => setOpen(false)}>
        Cancel
      </button>
    </form>
  );
}

function ColumnChooser({ meta, columns, onChange }: { meta: ObjectMeta; columns: string[]; onChange: (c: string[]) => void }) {
  const hidden = new Set(['version', 'deletedAt']);
  return (
    <fieldset className="panel column-chooser">
      <legend>Columns</legend>
      <div className="check-grid">
        {meta.fields
          .filter((f) => !hidden.has(f.name))
          .map((f) => (
            <label key={f.name}>
              <input
                type="checkbox"
                checked={columns.includes(f.name)}
                onChange={(e) => {
                  if (e.target.checked) onChange([...columns, f.name]);
                  else if (columns.length > 1) onChange(columns.filter((c) => c !== f.name));
                }}
              />
              {f.label}
              {f.custom && <span className="custom-tag"> custom</span>}
            </label>
          ))}
      </div>
    </fieldset>
  );
}

/** Filter rows built from each field's `filterOps`; applied together (AND), as the API does. */
export function FilterEditor({ meta, filters, onApply }: { meta: ObjectMeta; filters: Filter[]; onApply: (f: Filter[]) => void }) {
  const [rows, setRows] = useState<Filter[]>(filters.length ? filters : []);
  const filterable = meta.fields.filter((f) => f.filterOps.length > 0 && f.name !== 'version');
  const add = () => {
    const f = filterable.find((x) => meta.titleFields.includes(x.name)) ?? filterable[0];
    if (f) setRows((r) => [...r, { field: f.name, op: f.filterOps.includes('contains') ? 'contains' : f.filterOps[0], value: '' }]);
  };
  const update = (i: number, patch: Partial<Filter>) => setRows((r) => r.map((x, j) => (j === i ? { ...x, ...patch } : x)));
  return (
    <form
      className="panel filter-editor"
      aria-label="Filters"
      onSubmit={(e) => {
        e.preventDefault();
        onApply(rows.filter((r) => r.value !== '' || r.op === 'isNull').map((r) => (r.op === 'isNull' && r.value === '' ? { ...r, value: 'true' } : r)));
      }}
    >
      {rows.length === 0 && <p className="muted">No filters: showing everything you can see.</p>}
      {rows.map((r, i) => {
        const f = fieldOf(meta, r.field);
        return (
          <div className="filter-row" key={i}>
            <select
              aria-label="Field"
              value={r.field}
              onChange={(e) => {
                const nf = fieldOf(meta, e.target.value);
                update(i, { field: e.target.value, op: nf?.filterOps.includes(r.op) ? r.op : (nf?.filterOps[0] ?? 'eq'), value: '' });
              }}
            >
              {filterable.map((x) => (
                <option key={x.name} value={x.name}>
                  {x.label}
                </option>
              ))}
            </select>
            <select aria-label="Operator" value={r.op} onChange={(e) => update(i, { op: e.target.value as FilterOp, value: '' })}>
              {(f?.filterOps ?? []).map((op) => (
                <option key={op} value={op}>
                  {OP_LABEL[op]}
                </option>
              ))}
            </select>
            {f && <FilterValue field={f} op={r.op} value={r.value} onChange={(value) => update(i, { value })} />}
            <button type="button" className="icon-btn" aria-label="Remove filter" onClick={() => setRows((x) => x.filter((_, j) => j !== i))}>
              ×
            </button>
          </div>
        );
      })}
      <div className="form-actions">
        <button type="button" className="btn" onClick={add}>
          Add filter
        </button>
        <button type="submit" className="btn btn-primary">
          Apply
        </button>
        {rows.length > 0 && (
          <button
            type="button"
            className="btn btn-ghost"
            onClick={() => {
              setRows([]);
              onApply([]);
            }}
          >
            Clear
          </button>
        )}
      </div>
    </form>
  );
}

function FilterValue({ field, op, value, onChange }: { field: FieldMeta; op: FilterOp; value: string; onChange: (v: string) => void }) {
  if (op === 'isNull')
    return (
      <select aria-label="Value" value={value || 'true'} onChange={(e) => onChange(e.target.value)}>
        <option value="true">yes</option>
        <option value="false">no (has a value)</option>
      </select>
    );
  if (field.type === 'boolean')
    return (
      <select aria-label="Value" value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">Choose…</option>
        <option value="true">Yes</option>
        <option value="false">No</option>
      </select>
    );
  if (field.type === 'picklist' && op !== 'in')
    return (
      <select aria-label="Value" value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">Choose…</option>
        {(field.options ?? []).map((o) => (
          <option key={o} value={o}>
            {humanize(o)}
          </option>
        ))}
      </select>
    );
  const type = field.type === 'date' ? 'date' : 'text';
  return (
    <input
      aria-label="Value"
      type={type}
      value={value}
      placeholder={op === 'in' ? (field.options ? field.options.slice(0, 2).join(',') : 'a,b,c') : ''}
      onChange={(e) => onChange(e.target.value)}
    />
  );
}

function BulkDialog({ kind, meta, records, onClose }: { kind: 'delete' | 'owner'; meta: ObjectMeta; records: ApiRecord[]; onClose: (done: boolean) => void }) {
  const users = useUsers();
  const [owner, setOwner] = useState('');
  const [busy, setBusy] = useState(false);
  const [failures, setFailures] = useState<string[]>([]);
  const qc = useQueryClient();
  const toast = useToast();
  const run = async () => {
    setBusy(true);
    const failed: string[] = [];
    // One request per record, each with its own If-Match: a record someone changed meanwhile is reported, not overwritten.
    for (const r of records) {
      try {
        if (kind === 'delete') await deleteRecord(meta.name, r.id, r.version);
        else await patchRecord(meta.name, r.id, r.version, { ownerId: owner });
      } catch (err) {
        failed.push(`${r.id.slice(0, 8)}…: ${errorMessage(err)}`);
      }
    }
    setBusy(false);
    await qc.invalidateQueries({ queryKey: ['list', meta.name] });
    if (failed.length) setFailures(failed);
    else {
      toast('ok', `${records.length} ${records.length === 1 ? meta.singular : meta.labelPlural.toLowerCase()} ${kind === 'delete' ? 'deleted' : 'reassigned'}.`);
      onClose(true);
    }
  };
  return (
    <Modal
      title={kind === 'delete' ? `Delete ${records.length} records?` : `Change the owner of ${records.length} records`}
      onClose={() => onClose(false)}
      footer={
        <>
          <button type="button" className="btn" onClick={() => onClose(failures.length > 0)}>
            {failures.length ? 'Close' : 'Cancel'}
          </button>
          {!failures.length && (
            <button
              type="button"
              className={`btn ${kind === 'delete' ? 'btn-danger' : 'btn-primary'}`}
              disabled={busy || (kind === 'owner' && !owner)}
              onClick={() => void run()}
            >
              {busy ? 'Working…' : kind === 'delete' ? 'Delete' : 'Reassign'}
            </button>
          )}
        </>
      }
    >
      {kind === 'delete' && <p>Deleted records can be restored through the API (POST …/restore).</p>}
      {kind === 'owner' &&
        (users.isLoading ? (
          <Loading />
        ) : users.data ? (
          <label className="stack">
            New owner
            <select value={owner} onChange={(e) => setOwner(e.target.value)}>
              <option value="">Choose a user…</option>
              {users.data.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.name || u.email} ({u.role})
                </option>
              ))}
            </select>
          </label>
        ) : (
          <p className="form-error">This server has no users API yet, so owners cannot be listed.</p>
        ))}
      {failures.length > 0 && (
        <div role="alert">
          <p className="form-error">Some records were not changed:</p>
          <ul>
            {failures.map((f) => (
              <li key={f}>{f}</li>
            ))}
          </ul>
        </div>
      )}
    </Modal>
  );
}
