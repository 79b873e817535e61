import { useInfiniteQuery } from '@tanstack/react-query';
import { Fragment, useState } from 'react';
import { api, type Page } from '../api/client.ts';
import { Badge, Empty, ErrorState, Loading, PageHeader } from '../components/ui.tsx';
import { formatDateTime } from '../lib/fields.ts';
import type { ExperimentResult } from '../../../src/resilience/resilience.types.ts';

export type { ExperimentResult };

interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

/** How many results the per-experiment history strip shows. */
export const HISTORY_LENGTH = 20;
const PAGE_SIZE = 100;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const intFmt = new Intl.NumberFormat();

function count(v: unknown): string {
  const n = num(v);
  return n === null ? '—' : intFmt.format(n);
}

export function formatMs(v: unknown): string {
  const n = num(v);
  if (n === null) return '—';
  if (n < 1000) return `${intFmt.format(Math.round(n))} ms`;
  return `${(n / 1000).toFixed(n < 10_000 ? 2 : 1)} s`;
}

export function formatRate(v: unknown): string {
  const n = num(v);
  return n === null ? '—' : `${(n * 100).toFixed(2)}%`;
}

/** "lost / duplicated", flagged when either is above zero; "—" when the run did not measure it. */
function LostDup({ lost, dup, what }: { lost: unknown; dup: unknown; what: string }) {
  const l = num(lost);
  const d = num(dup);
  if (l === null && d === null) return <span className="muted">not measured</span>;
  const bad = (l ?? 0) > 0 || (d ?? 0) > 0;
  return (
    <span className={bad ? 'metric-bad' : undefined} aria-label={`${what}: ${count(lost)} lost, ${count(dup)} duplicated`}>
      {count(lost)} / {count(dup)}
    </span>
  );
}

function ResultBadge({ r }: { r: ExperimentResult }) {
  return r.passed ? <Badge tone="ok">PASS</Badge> : <Badge tone="fail">FAIL</Badge>;
}

function isCheck(x: unknown): x is Check {
  return typeof x === 'object' && x !== null && typeof (x as { name?: unknown }).name === 'string';
}

function checksOf(r: ExperimentResult): Check[] {
  const c: unknown = r.details?.checks;
  return Array.isArray(c) ? c.filter(isCheck) : [];
}

/** Per experiment, its latest results (oldest → newest), from the rows loaded so far (newest first). */
export function historyByExperiment(rows: ExperimentResult[], n = HISTORY_LENGTH): { experiment: string; title: string; results: ExperimentResult[] }[] {
  const by = new Map<string, { experiment: string; title: string; results: ExperimentResult[] }>();
  for (const r of rows) {
    let h = by.get(r.experiment);
    if (!h) {
      h = { experiment: r.experiment, title: r.title, results: [] };
      by.set(r.experiment, h);
    }
    if (h.results.length < n) h.results.push(r);
  }
  return [...by.values()].sort((a, b) => a.experiment.localeCompare(b.experiment)).map((h) => ({ ...h, results: [...h.results].reverse() }));
}

function HistoryStrip({ experiment, title, results }: { experiment: string; title: string; results: ExperimentResult[] }) {
  const passed = results.filter((r) => r.passed).length;
  const failed = results.length - passed;
  const latest = results[results.length - 1];
  return (
    <li className="history-item">
      <div className="history-name">
        <code>{experiment}</code>
        <span className="muted history-title">{title}</span>
      </div>
      <ol className="history-strip" aria-label={`Last ${results.length} results of ${experiment}, oldest first: ${passed} passed, ${failed} failed`}>
        {results.map((r) => (
          <li key={r.id} className={`history-mark ${r.passed ? 'mark-pass' : 'mark-fail'}`} title={`${r.passed ? 'PASS' : 'FAIL'} · ${formatDateTime(r.startedAt)}`}>
            <span className="sr-only">
              {r.passed ? 'Passed' : 'Failed'} {formatDateTime(r.startedAt)}
            </span>
          </li>
        ))}
      </ol>
      <div className="history-latest">{latest && <ResultBadge r={latest} />}</div>
    </li>
  );
}

const COLUMNS = [
  'Experiment',
  'Result',
  'Started',
  'Requests',
  'Client errors',
  'Error rate',
  'p50',
  'p99',
  'Max',
  'Writes unavailable',
  'Database outage',
  'Acked writes lost / dup',
  'Events lost / dup',
  'Details',
];

export function Resilience() {
  const q = useInfiniteQuery({
    queryKey: ['resilience', 'experiments'],
    initialPageParam: null as string | null,
    queryFn: async ({ pageParam, signal }) => {
      const qs = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (pageParam) qs.set('cursor', pageParam);
      return (await api<Page<ExperimentResult>>(`/api/v1/resilience/experiments?${qs}`, { signal })).data;
    },
    getNextPageParam: (p) => p.nextCursor,
  });
  const [open, setOpen] = useState<Set<string>>(() => new Set());
  const toggle = (id: string) =>
    setOpen((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const rows = q.data?.pages.flatMap((p) => p.data) ?? [];
  const history = historyByExperiment(rows);
  const lastRun = rows[0];

  return (
    <div>
      <PageHeader
        title="Resilience"
        sub={
          lastRun ? (
            <>
              Chaos experiments against a local cluster. Latest result {formatDateTime(lastRun.startedAt)} (run <code>{lastRun.runId}</code>).
            </>
          ) : (
            'Chaos experiments against a local cluster.'
          )
        }
      >
        <button type="button" className="btn" onClick={() => void q.refetch()} disabled={q.isFetching}>
          {q.isFetching && !q.isLoading ? 'Refreshing…' : 'Refresh'}
        </button>
      </PageHeader>
      {q.isLoading && <Loading />}
      {q.error && <ErrorState error={q.error} retry={() => void q.refetch()} />}
      {q.data && rows.length === 0 && (
        <Empty title="No chaos experiments recorded yet.">
          <p>
            Run <code>npm run chaos</code> on a machine with the local cluster: it injects each fault (node loss, failover, network partitions…), measures what
            clients saw and stores every experiment’s result here.
          </p>
        </Empty>
      )}
      {rows.length > 0 && (
        <>
          <section className="panel resilience-history" aria-labelledby="resilience-history-heading">
            <h2 id="resilience-history-heading">History per experiment</h2>
            <p className="muted">
              Last {HISTORY_LENGTH} results of each experiment, oldest on the left: <span className="legend-mark mark-pass" aria-hidden="true" /> pass,{' '}
              <span className="legend-mark mark-fail" aria-hidden="true" /> fail.
            </p>
            <ul className="history-list">
              {history.map((h) => (
                <HistoryStrip key={h.experiment} {...h} />
              ))}
            </ul>
          </section>
          <div className="table-wrap">
            <table className="data-table resilience-table" aria-label="Experiment results">
              <thead>
                <tr>
                  {COLUMNS.map((c) => (
                    <th key={c} scope="col">
                      {c === 'Details' ? <span className="sr-only">{c}</span> : c}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => {
                  const m = r.metrics ?? {};
                  const expanded = open.has(r.id);
                  const detailsId = `exp-details-${r.id}`;
                  const skipped = typeof r.details?.skipped === 'string' ? r.details.skipped : null;
                  const checks = checksOf(r);
                  return (
                    <Fragment key={r.id}>
                      <tr className={r.passed ? undefined : 'failed'}>
                        <td data-label="Experiment" className="exp-cell">
                          <strong>{r.title}</strong>
                          <div className="muted">
                            <code>{r.experiment}</code>
                          </div>
                        </td>
                        <td data-label="Result">
                          <ResultBadge r={r} /> {skipped && <Badge tone="muted">Skipped</Badge>}
                        </td>
                        <td data-label="Started">
                          <time dateTime={r.startedAt}>{formatDateTime(r.startedAt)}</time>
                        </td>
                        <td data-label="Requests" className="num">
                          {count(m.requests)}
                        </td>
                        <td data-label="Client errors" className="num">
                          {count(m.clientErrors)}
                          {num(m.failedOps) !== null && <span className="muted"> ({count(m.failedOps)} after retries)</span>}
                        </td>
                        <td data-label="Error rate" className="num">
                          {formatRate(m.errorRate)}
                        </td>
                        <td data-label="p50" className="num">
                          {formatMs(m.p50Ms)}
                        </td>
                        <td data-label="p99" className="num">
                          {formatMs(m.p99Ms)}
                        </td>
                        <td data-label="Max" className="num">
                          {formatMs(m.maxMs)}
                        </td>
                        <td data-label="Writes unavailable" className="num">
                          {formatMs(m.writeUnavailableMs)}
                        </td>
                        <td data-label="Database outage" className="num">
                          {formatMs(m.dbOutageMs)}
                        </td>
                        <td data-label="Acked writes lost / dup" className="num">
                          <LostDup lost={m.writesLost} dup={m.writesDuplicated} what="Acknowledged writes" />
                          {num(m.ackedWrites) !== null && <span className="muted"> of {count(m.ackedWrites)}</span>}
                        </td>
                        <td data-label="Events lost / dup" className="num">
                          <LostDup lost={m.eventsLost} dup={m.eventsDuplicated} what="Events" />
                        </td>
                        <td data-label="Details">
                          <button
                            type="button"
                            className="btn btn-sm"
                            aria-expanded={expanded}
                            aria-controls={expanded ? detailsId : undefined}
                            aria-label={`${expanded ? 'Hide' : 'Show'} details of ${r.experiment} at ${formatDateTime(r.startedAt)}`}
                            onClick={() => toggle(r.id)}
                          >
                            {expanded ? 'Hide' : 'Details'}
                          </button>
                        </td>
                      </tr>
                      {expanded && (
                        <tr className="exp-details-row">
                          <td colSpan={COLUMNS.length} id={detailsId}>
                            <div className="exp-details">
                              {r.hypothesis && (
                                <p>
                                  <strong>Hypothesis:</strong> {r.hypothesis}
                                </p>
                              )}
                              {skipped && (
                                <p>
                                  <strong>Skipped:</strong> {skipped}
                                </p>
                              )}
                              <p className="muted">
                                Run <code>{r.runId}</code> · {formatDateTime(r.startedAt)} – {formatDateTime(r.finishedAt)}
                                {num(m.durationMs) !== null && <> · {formatMs(m.durationMs)}</>}
                              </p>
                              {checks.length > 0 && (
                                <ul className="exp-checks" aria-label="Checks">
                                  {checks.map((c, i) => (
                                    <li key={`${i}:${c.name}`}>
                                      <Badge tone={c.ok ? 'ok' : 'fail'}>{c.ok ? 'OK' : 'FAILED'}</Badge> {c.name}
                                      {c.detail && <span className="muted"> — {c.detail}</span>}
                                    </li>
                                  ))}
                                </ul>
                              )}
                            </div>
                          </td>
                        </tr>
                      )}
                    </Fragment>
                  );
                })}
              </tbody>
            </table>
          </div>
          {q.hasNextPage && (
            <div className="load-more">
              <button type="button" className="btn" onClick={() => void q.fetchNextPage()} disabled={q.isFetchingNextPage}>
                {q.isFetchingNextPage ? 'Loading…' : 'Load older results'}
              </button>
            </div>
          )}
        </>
      )}
    </div>
  );
}
