import { type QueryClient, useQueryClient } from '@tanstack/react-query';
import { createContext, type ReactNode, useCallback, useContext, useState } from 'react';
import { ApiError, type ApiRecord, type Conflict, errorMessage, patchRecord } from '../api/client.ts';
import { fieldOf, type ObjectMeta, useMetadata } from '../api/metadata.ts';
import { FieldValue } from './fields.tsx';
import { Modal } from './ui.tsx';

/** Puts a record the server just returned into every cache that shows it. */
export function putRecord(qc: QueryClient, object: string, r: ApiRecord): void {
  qc.setQueryData(['record', object, r.id], r);
  void qc.invalidateQueries({ queryKey: ['list', object] });
  void qc.invalidateQueries({ queryKey: ['history', object, r.id] });
  void qc.invalidateQueries({ queryKey: ['title', object, r.id] });
  void qc.invalidateQueries({ queryKey: ['related'] });
  void qc.invalidateQueries({ queryKey: ['pipeline'] });
  void qc.invalidateQueries({ queryKey: ['dashboard'] });
}

interface PendingConflict {
  object: string;
  values: Record<string, unknown>;
  conflicts: Conflict[];
  current: ApiRecord;
  resolve: (r: ApiRecord | null) => void;
}

type Resolver = (object: string, values: Record<string, unknown>, err: ApiError) => Promise<ApiRecord | null>;
const ConflictContext = createContext<Resolver>(async () => null);

/**
 * Saves a change with If-Match. On 412 the user sees their value and the current one side by
 * side and chooses per field; nothing is overwritten without that choice. Resolves to the
 * saved record, or null when the user kept the other person's values.
 */
export function useSaveRecord() {
  const qc = useQueryClient();
  const resolve = useContext(ConflictContext);
  return useCallback(
    async (object: string, record: Pick<ApiRecord, 'id' | 'version'>, values: Record<string, unknown>): Promise<ApiRecord | null> => {
      try {
        const updated = await patchRecord(object, record.id, record.version, values);
        putRecord(qc, object, updated);
        return updated;
      } catch (err) {
        if (err instanceof ApiError && err.code === 'version_conflict' && err.current) return resolve(object, values, err);
        throw err;
      }
    },
    [qc, resolve],
  );
}

export function ConflictProvider({ children }: { children: ReactNode }) {
  const [pending, setPending] = useState<PendingConflict | null>(null);
  const resolver = useCallback<Resolver>(
    (object, values, err) =>
      new Promise((resolve) => {
        setPending({ object, values, conflicts: err.conflicts, current: err.current!, resolve });
      }),
    [],
  );
  return (
    <ConflictContext.Provider value={resolver}>
      {children}
      {pending && (
        <ConflictDialog
          key={`${pending.current.id}-${pending.current.version}`}
          pending={pending}
          onDone={(r) => {
            setPending(null);
            pending.resolve(r);
          }}
          onAgain={(p) => setPending(p)}
        />
      )}
    </ConflictContext.Provider>
  );
}

function ConflictDialog({
  pending,
  onDone,
  onAgain,
}: {
  pending: PendingConflict;
  onDone: (r: ApiRecord | null) => void;
  onAgain: (p: PendingConflict) => void;
}) {
  const qc = useQueryClient();
  const meta = useMetadata().data?.find((o) => o.name === pending.object);
  const { conflicts, current, values, object } = pending;
  // When the server could not tell which fields clashed, every field of the change is in question.
  const rows: Conflict[] = conflicts.length
    ? conflicts
    : Object.keys(values).map((f) => ({ field: f, yours: values[f], theirs: current[f] ?? null }));
  const [choice, setChoice] = useState<Record<string, 'mine' | 'theirs'>>(() => Object.fromEntries(rows.map((c) => [c.field, 'mine'])));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const keepTheirs = () => {
    putRecord(qc, object, current);
    onDone(null);
  };
  const save = async () => {
    const conflicted = new Set(rows.map((c) => c.field));
    const send: Record<string, unknown> = {};
    for (const [f, v] of Object.entries(values)) if (!conflicted.has(f) || choice[f] === 'mine') send[f] = v;
    if (Object.keys(send).length === 0) return keepTheirs();
    setBusy(true);
    setError(null);
    try {
      const updated = await patchRecord(object, current.id, current.version, send);
      putRecord(qc, object, updated);
      onDone(updated);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'version_conflict' && err.current) {
        onAgain({ ...pending, values: send, conflicts: err.conflicts, current: err.current });
      } else setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      title="Someone else changed this record"
      onClose={keepTheirs}
      wide
      footer={
        <>
          <button type="button" className="btn" onClick={keepTheirs} disabled={busy}>
            Discard my changes
          </button>
          <button type="button" className="btn btn-primary" onClick={() => void save()} disabled={busy}>
            {busy ? 'Saving…' : 'Save my choices'}
          </button>
        </>
      }
    >
      <p>
        While you were editing, another change was saved (now version {current.version}). Nothing of yours has been written yet. Choose, for each
        field, which value to keep.
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <table className="conflict-table">
        <thead>
          <tr>
            <th scope="col">Field</th>
            <th scope="col">Your value</th>
            <th scope="col">Their value (saved)</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => (
            <ConflictRow key={c.field} meta={meta} c={c} current={current} choice={choice[c.field]} onChoose={(v) => setChoice((s) => ({ ...s, [c.field]: v }))} />
          ))}
        </tbody>
      </table>
    </Modal>
  );
}

function ConflictRow({
  meta,
  c,
  current,
  choice,
  onChoose,
}: {
  meta: ObjectMeta | undefined;
  c: Conflict;
  current: ApiRecord;
  choice: 'mine' | 'theirs';
  onChoose: (v: 'mine' | 'theirs') => void;
}) {
  const field = meta ? fieldOf(meta, c.field) : undefined;
  const name = `conflict-${c.field}`;
  return (
    <tr>
      <th scope="row">{field?.label ?? c.field}</th>
      <td className={choice === 'mine' ? 'chosen' : undefined}>
        <label className="choice">
          <input type="radio" name={name} checked={choice === 'mine'} onChange={() => onChoose('mine')} aria-label={`Keep my value for ${field?.label ?? c.field}`} />
          <span className="conflict-value" data-testid={`yours-${c.field}`}>
            <FieldValue field={field} value={c.yours} record={current} />
          </span>
        </label>
      </td>
      <td className={choice === 'theirs' ? 'chosen' : undefined}>
        <label className="choice">
          <input type="radio" name={name} checked={choice === 'theirs'} onChange={() => onChoose('theirs')} aria-label={`Keep their value for ${field?.label ?? c.field}`} />
          <span className="conflict-value" data-testid={`theirs-${c.field}`}>
            <FieldValue field={field} value={c.theirs} record={current} />
          </span>
        </label>
      </td>
    </tr>
  );
}
