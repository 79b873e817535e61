import { type QueryClient, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { type DragEvent, useState } from 'react';
import { type AggregateRow, aggregateRecords, totalsFromGroups } from '../api/aggregate.ts';
import { type ApiRecord, errorMessage, listRecords, type Page } from '../api/client.ts';
import { can, fieldOf, type ObjectMeta, useObjectMeta } from '../api/metadata.ts';
import { useSaveRecord } from '../components/conflict.tsx';
import { LookupName } from '../components/fields.tsx';
import { Empty, ErrorState, Loading, PageHeader, useToast } from '../components/ui.tsx';
import { formatDate, formatMoney, humanize } from '../lib/fields.ts';
import { Link, recordPath } from '../lib/router.tsx';

/** Amounts per currency from aggregate groups, e.g. "€1,500 + $7"; currencies are never mixed. */
export function formatGroupTotals(rows: AggregateRow[]): string {
  const t = totalsFromGroups(rows);
  return t.length ? t.map((x) => formatMoney(x.amount, x.currency)).join(' + ') : formatMoney(0);
}

const FIELDS = ['name', 'amount', 'currency', 'stage', 'closeDate', 'accountId', 'probability', 'updatedAt'];
/** Cards loaded per column (largest first); counts and totals always cover the whole column. */
export const CARDS_PER_COLUMN = 50;

type Totals = { data: AggregateRow[]; truncated: boolean };
const totalsKey = ['pipeline', 'totals'] as const;
const cardsKey = (stage: string) => ['pipeline', 'cards', stage] as const;

/** Moves a card's count and amount between (stage, currency) groups until the server's answer arrives. */
export function moveInTotals(totals: AggregateRow[], card: ApiRecord, to: string): AggregateRow[] {
  const currency = (card.currency as string | null | undefined) ?? null;
  const amount = card.amount == null ? 0 : Number(card.amount);
  const out = totals.map((r) => ({ ...r, group: { ...r.group } }));
  const find = (stage: unknown) => out.find((r) => r.group.stage === stage && (r.group.currency ?? null) === currency);
  const from = find(card.stage);
  if (from) {
    from.count -= 1;
    from.sum = (Number(from.sum ?? 0) - amount).toFixed(2);
  }
  const target = find(to);
  if (target) {
    target.count += 1;
    target.sum = (Number(target.sum ?? 0) + amount).toFixed(2);
  } else out.push({ key: to, group: { stage: to, currency }, count: 1, sum: amount.toFixed(2) });
  return out.filter((r) => r.count > 0);
}

/** Opportunity pipeline: one column per stage, drag a card (or use its stage menu) to move it. */
export function Pipeline() {
  const { meta, isLoading, error } = useObjectMeta('opportunities');
  if (isLoading) return <Loading />;
  if (error) return <ErrorState error={error} />;
  if (!meta) return <Empty title="Opportunities are not available to your role." />;
  return <Board meta={meta} />;
}

function moveCard(qc: QueryClient, card: ApiRecord, to: string): void {
  qc.setQueryData<Page>(cardsKey(String(card.stage)), (d) => d && { ...d, data: d.data.filter((r) => r.id !== card.id) });
  qc.setQueryData<Page>(cardsKey(to), (d) => d && { ...d, data: [{ ...card, stage: to }, ...d.data] });
  qc.setQueryData<Totals>(totalsKey, (d) => d && { ...d, data: moveInTotals(d.data, card, to) });
}

function Board({ meta }: { meta: ObjectMeta }) {
  const stages = fieldOf(meta, 'stage')?.options ?? [];
  const qc = useQueryClient();
  const save = useSaveRecord();
  const toast = useToast();
  const [over, setOver] = useState<string | null>(null);
  const [moving, setMoving] = useState<string | null>(null);
  const fields = FIELDS.filter((f) => fieldOf(meta, f));
  // Counts and amounts from the server's aggregate; each column loads only its largest cards.
  const totals = useQuery({
    queryKey: totalsKey,
    queryFn: ({ signal }) => aggregateRecords('opportunities', { groupBy: ['stage', 'currency'], sum: 'amount', limit: 1000 }, signal),
  });
  const columns = useQueries({
    queries: stages.map((stage) => ({
      queryKey: cardsKey(stage),
      queryFn: ({ signal }: { signal: AbortSignal }) =>
        listRecords('opportunities', { filters: [{ field: 'stage', op: 'eq', value: stage }], fields, sort: '-amount', limit: CARDS_PER_COLUMN }, signal),
    })),
  });
  const cardsOf = (stage: string) => columns[stages.indexOf(stage)]?.data?.data ?? [];
  const groupsOf = (stage: string) => (totals.data?.data ?? []).filter((r) => r.group.stage === stage);
  const countOf = (stage: string) => groupsOf(stage).reduce((n, r) => n + r.count, 0);
  const loadError = totals.error ?? columns.find((c) => c.error)?.error;
  const ready = totals.isSuccess && columns.every((c) => c.isSuccess);

  const move = async (card: ApiRecord, stage: string) => {
    if (card.stage === stage) return;
    const snapshot = [totalsKey, ...stages.map(cardsKey)].map((k) => [k, qc.getQueryData(k)] as const);
    const rollback = () => {
      for (const [k, v] of snapshot) qc.setQueryData(k, v);
    };
    moveCard(qc, card, stage);
    setMoving(card.id);
    try {
      const saved = await save('opportunities', card, { stage });
      if (saved) toast('ok', `“${String(card.name)}” moved to ${humanize(stage)}.`);
      else rollback();
    } catch (err) {
      rollback();
      toast('error', errorMessage(err));
    } finally {
      setMoving(null);
      void qc.invalidateQueries({ queryKey: ['pipeline'] });
    }
  };

  const onDrop = (e: DragEvent, stage: string) => {
    e.preventDefault();
    setOver(null);
    const id = e.dataTransfer.getData('text/x-basalt-id') || e.dataTransfer.getData('text/plain');
    const card = stages.flatMap(cardsOf).find((r) => r.id === id);
    if (card) void move(card, stage);
  };

  const editable = can(meta, 'update');
  return (
    <div className="pipeline">
      <PageHeader
        title="Pipeline"
        sub={
          totals.data
            ? `${stages.reduce((n, s) => n + countOf(s), 0).toLocaleString()} opportunities · ${formatGroupTotals(totals.data.data.filter((r) => !String(r.group.stage).startsWith('closed')))} open`
            : undefined
        }
      >
        {can(meta, 'create') && (
          <Link to="/o/opportunities/new" className="btn btn-primary">
            New opportunity
          </Link>
        )}
      </PageHeader>
      {!ready && !loadError && <Loading label="Loading the pipeline…" />}
      {loadError && <ErrorState error={loadError} retry={() => void qc.invalidateQueries({ queryKey: ['pipeline'] })} />}
      {ready && (
        <div className="board">
          {stages.map((stage) => {
            const cards = cardsOf(stage);
            const count = countOf(stage);
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
                    <span className="count" data-testid={`count-${stage}`}>
                      {count.toLocaleString()}
                      <span className="sr-only"> opportunities</span>
                    </span>
                    <span className="column-amount" data-testid={`amount-${stage}`}>
                      {formatGroupTotals(groupsOf(stage))}
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
                  {count > cards.length && (
                    <li className="muted column-more">
                      {(count - cards.length).toLocaleString()} smaller not shown; <Link to="/o/opportunities">see the list</Link>
                    </li>
                  )}
                </ul>
              </section>
            );
          })}
        </div>
      )}
    </div>
  );
}
