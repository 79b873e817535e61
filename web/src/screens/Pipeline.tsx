import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type DragEvent, useState } from 'react';
import { type ApiRecord, errorMessage, listAll } from '../api/client.ts';
import { can, fieldOf, type ObjectMeta, useObjectMeta } from '../api/metadata.ts';
import { useSaveRecord } from '../components/conflict.tsx';
import { LookupName } from '../components/fields.tsx';
import { Empty, ErrorState, Loading, PageHeader, useToast } from '../components/ui.tsx';
import { formatDate, formatMoney, humanize } from '../lib/fields.ts';
import { Link, recordPath } from '../lib/router.tsx';

/** Sums amounts per currency: a pipeline may hold several, and they are never silently mixed. */
export function totalsByCurrency(records: ApiRecord[]): { currency: string | null; amount: number }[] {
  const sums = new Map<string | null, number>();
  for (const r of records) {
    if (r.amount === null || r.amount === undefined) continue;
    const c = (r.currency as string | null) ?? null;
    sums.set(c, (sums.get(c) ?? 0) + Number(r.amount));
  }
  return [...sums].map(([currency, amount]) => ({ currency, amount })).sort((a, b) => b.amount - a.amount);
}

export function formatTotals(records: ApiRecord[]): string {
  const t = totalsByCurrency(records);
  return t.length ? t.map((x) => formatMoney(x.amount, x.currency)).join(' + ') : formatMoney(0);
}

const FIELDS = ['name', 'amount', 'currency', 'stage', 'closeDate', 'accountId', 'probability', 'updatedAt'];

/** Opportunity pipeline: one column per stage, drag a card (or use its stage menu) to move it. */
export function Pipeline() {
  const { meta, isLoading, error } = useObjectMeta('opportunities');
  if (isLoading) return <Loading />;
  if (error) return <ErrorState error={error} />;
  if (!meta) return <Empty title="Opportunities are not available to your role." />;
  return <Board meta={meta} />;
}

function Board({ meta }: { meta: ObjectMeta }) {
  const stages = fieldOf(meta, 'stage')?.options ?? [];
  const qc = useQueryClient();
  const save = useSaveRecord();
  const toast = useToast();
  const [over, setOver] = useState<string | null>(null);
  const [moving, setMoving] = useState<string | null>(null);
  const key = ['pipeline', 'opportunities'];
  // The API has no aggregates yet: the board pages through every opportunity (fields trimmed).
  const q = useQuery({
    queryKey: key,
    queryFn: ({ signal }) => listAll('opportunities', { fields: FIELDS.filter((f) => fieldOf(meta, f)), sort: '-amount' }, 5000, signal),
  });

  const move = async (card: ApiRecord, stage: string) => {
    if (card.stage === stage) return;
    const previous = qc.getQueryData<{ data: ApiRecord[]; truncated: boolean }>(key);
    qc.setQueryData<{ data: ApiRecord[]; truncated: boolean }>(key, (d) => d && { ...d, data: d.data.map((r) => (r.id === card.id ? { ...r, stage } : r)) });
    setMoving(card.id);
    try {
      const saved = await save('opportunities', card, { stage });
      if (saved) toast('ok', `“${String(card.name)}” moved to ${humanize(stage)}.`);
      else qc.setQueryData(key, previous);
    } catch (err) {
      qc.setQueryData(key, previous);
      toast('error', errorMessage(err));
    } finally {
      setMoving(null);
      void qc.invalidateQueries({ queryKey: key });
    }
  };

  const onDrop = (e: DragEvent, stage: string) => {
    e.preventDefault();
    setOver(null);
    const id = e.dataTransfer.getData('text/x-basalt-id') || e.dataTransfer.getData('text/plain');
    const card = q.data?.data.find((r) => r.id === id);
    if (card) void move(card, stage);
  };

  const editable = can(meta, 'update');
  return (
    <div className="pipeline">
      <PageHeader
        title="Pipeline"
        sub={q.data ? `${q.data.data.length} ${q.data.data.length === 1 ? 'opportunity' : 'opportunities'} · ${formatTotals(q.data.data.filter((r) => !String(r.stage).startsWith('closed')))} open` : undefined}
      >
        {can(meta, 'create') && (
          <Link to="/o/opportunities/new" className="btn btn-primary">
            New opportunity
          </Link>
        )}
      </PageHeader>
      {q.isLoading && <Loading label="Loading the pipeline…" />}
      {q.error && <ErrorState error={q.error} retry={() => void q.refetch()} />}
      {q.data?.truncated && <p className="notice">Showing the first 5,000 opportunities.</p>}
      {q.data && (
        <div className="board">
          {stages.map((stage) => {
            const cards = q.data.data.filter((r) => r.stage === stage);
            return (
              <section
                key={stage}
                className={`column${over === stage ? ' drop-target' : ''}`}
                data-stage={stage}
                aria-labelledby={`col-${stage}`}
                onDragOver={(e) => {
                  if (!editable) return;
                  e.preventDefault();
                  e.dataTransfer.dropEffect = 'move';
                  setOver(stage);
                }}
                onDragLeave={() => setOver((o) => (o === stage ? null : o))}
                onDrop={(e) => onDrop(e, stage)}
              >
                <header className="column-header">
                  <h2 id={`col-${stage}`}>{humanize(stage)}</h2>
                  <div className="column-stats">
                    <span className="count">
                      {cards.length}
                      <span className="sr-only"> opportunities</span>
                    </span>
                    <span className="column-amount" data-testid={`amount-${stage}`}>
                      {formatTotals(cards)}
                    </span>
                  </div>
                </header>
                <ul className="cards">
                  {cards.map((r) => (
                    <li
                      key={r.id}
                      className={`kcard${moving === r.id ? ' moving' : ''}`}
                      draggable={editable}
                      data-id={r.id}
                      onDragStart={(e) => {
                        e.dataTransfer.setData('text/x-basalt-id', r.id);
                        e.dataTransfer.setData('text/plain', r.id);
                        e.dataTransfer.effectAllowed = 'move';
                      }}
                    >
                      <Link to={recordPath('opportunities', r.id)} className="kcard-title">
                        {String(r.name)}
                      </Link>
                      <div className="kcard-amount">{r.amount != null ? formatMoney(r.amount as string, r.currency as string | null) : '—'}</div>
                      <div className="kcard-meta muted">
                        {typeof r.accountId === 'string' && <LookupName object="accounts" id={r.accountId} />}
                        {typeof r.closeDate === 'string' && <span> · closes {formatDate(r.closeDate)}</span>}
                      </div>
                      {editable && (
                        <label className="kcard-move">
                          <span className="sr-only">Stage of {String(r.name)}</span>
                          <select value={stage} onChange={(e) => void move(r, e.target.value)} disabled={moving === r.id}>
                            {stages.map((s) => (
                              <option key={s} value={s}>
                                {humanize(s)}
                              </option>
                            ))}
                          </select>
                        </label>
                      )}
                    </li>
                  ))}
                  {cards.length === 0 && <li className="muted column-empty">No opportunities</li>}
                </ul>
              </section>
            );
          })}
        </div>
      )}
    </div>
  );
}
