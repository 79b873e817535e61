import { useQuery } from '@tanstack/react-query';
import { Bar, BarChart, CartesianGrid, Cell, Legend, Pie, PieChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { type AggregateRow, aggregateRecords, totalsFromGroups } from '../api/aggregate.ts';
import { type Filter, listRecords } from '../api/client.ts';
import { fieldOf, useMetadata } from '../api/metadata.ts';
import { Empty, ErrorState, Loading, PageHeader } from '../components/ui.tsx';
import { formatDate, formatMoney, humanize } from '../lib/fields.ts';
import { Link, recordPath } from '../lib/router.tsx';

const COLORS = ['#3b6fd8', '#29a37a', '#f4b942', '#e0663d', '#8a5cd6', '#5b6b82'];
const PRIORITY_COLORS: Record<string, string> = { low: '#9aa8bd', medium: '#3b6fd8', high: '#f08a24', urgent: '#d43d3d' };

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function quarterBounds(now = new Date()): { start: string; end: string; label: string } {
  const q = Math.floor(now.getMonth() / 3);
  const start = new Date(Date.UTC(now.getFullYear(), q * 3, 1));
  const end = new Date(Date.UTC(now.getFullYear(), q * 3 + 3, 0));
  return { start: start.toISOString().slice(0, 10), end: end.toISOString().slice(0, 10), label: `Q${q + 1} ${now.getFullYear()}` };
}

export interface PipelineStats {
  byStage: { stage: string; label: string; count: number; amount: number }[];
  won: number;
  lost: number;
  winRate: number | null;
  currency: string | null;
  mixedCurrencies: boolean;
}

/** Dashboard figures from the server's (stage, currency) aggregate of opportunities. */
export function pipelineStats(groups: AggregateRow[], stages: string[]): PipelineStats {
  const byStage = stages.map((s) => {
    const rs = groups.filter((r) => r.group.stage === s);
    return { stage: s, label: humanize(s), count: rs.reduce((n, r) => n + r.count, 0), amount: rs.reduce((n, r) => n + Number(r.sum ?? 0), 0) };
  });
  const countOf = (stage: string) => byStage.find((s) => s.stage === stage)?.count ?? 0;
  const won = countOf('closed_won');
  const lost = countOf('closed_lost');
  const currencies = totalsFromGroups(groups).filter((t) => t.currency);
  return {
    byStage,
    won,
    lost,
    winRate: won + lost ? won / (won + lost) : null,
    currency: currencies[0]?.currency ?? null,
    mixedCurrencies: currencies.length > 1,
  };
}

/** Rows of the cases chart from the server's (status, priority) aggregate. */
export function casesMatrix(groups: AggregateRow[], statuses: string[], priorities: string[]) {
  return statuses.map((s) => {
    const row: Record<string, string | number> = { status: humanize(s) };
    for (const p of priorities) row[p] = groups.filter((g) => g.group.status === s && g.group.priority === p).reduce((n, g) => n + g.count, 0);
    return row;
  });
}

export default function Dashboard() {
  const meta = useMetadata();
  const opps = meta.data?.find((o) => o.name === 'opportunities');
  const casesMeta = meta.data?.find((o) => o.name === 'cases');
  const quarter = quarterBounds();
  const stages = (opps && fieldOf(opps, 'stage')?.options) ?? [];
  const closingFilters: Filter[] = [
    { field: 'closeDate', op: 'gte', value: quarter.start },
    { field: 'closeDate', op: 'lte', value: quarter.end },
    { field: 'stage', op: 'in', value: stages.filter((s) => !s.startsWith('closed')).join(',') },
  ];
  const oppQ = useQuery({
    queryKey: ['dashboard', 'opportunities'],
    enabled: Boolean(opps),
    queryFn: ({ signal }) => aggregateRecords('opportunities', { groupBy: ['stage', 'currency'], sum: 'amount', limit: 1000 }, signal),
  });
  const closingQ = useQuery({
    queryKey: ['dashboard', 'closing', quarter.start],
    enabled: Boolean(opps && stages.length),
    queryFn: async ({ signal }) => {
      const [totals, top] = await Promise.all([
        aggregateRecords('opportunities', { groupBy: ['currency'], sum: 'amount', filters: closingFilters }, signal),
        listRecords('opportunities', { filters: closingFilters, sort: 'closeDate', limit: 10, fields: ['name', 'stage', 'amount', 'currency', 'closeDate'] }, signal),
      ]);
      return { totals: totals.data, top: top.data };
    },
  });
  const caseQ = useQuery({
    queryKey: ['dashboard', 'cases'],
    enabled: Boolean(casesMeta),
    queryFn: ({ signal }) => aggregateRecords('cases', { groupBy: ['status', 'priority'], limit: 1000 }, signal),
  });
  if (meta.isLoading) return <Loading />;
  if (meta.error) return <ErrorState error={meta.error} />;

  const stats = oppQ.data ? pipelineStats(oppQ.data.data, stages) : null;
  const closing = closingQ.data?.top ?? [];
  const closingTotals = totalsFromGroups(closingQ.data?.totals ?? []);
  const closingCount = (closingQ.data?.totals ?? []).reduce((n, r) => n + r.count, 0);
  const statuses = (casesMeta && fieldOf(casesMeta, 'status')?.options) ?? [];
  const priorities = (casesMeta && fieldOf(casesMeta, 'priority')?.options) ?? [];
  const caseTotal = (caseQ.data?.data ?? []).reduce((n, r) => n + r.count, 0);
  const matrix = caseQ.data ? casesMatrix(caseQ.data.data, statuses, priorities) : [];
  const money = (n: number) => formatMoney(n, stats?.mixedCurrencies ? null : stats?.currency);

  return (
    <div className="dashboard">
      <PageHeader title="Dashboard" sub="Figures cover the records you can see." />
      {!opps && !casesMeta && <Empty title="Your role has no dashboards." />}
      <div className="dash-grid">
        {opps && (
          <>
            <section className="card kpi" aria-labelledby="kpi-win">
              <h2 id="kpi-win">Win rate</h2>
              {oppQ.isLoading ? (
                <Loading />
              ) : oppQ.error ? (
                <ErrorState error={oppQ.error} />
              ) : (
                <>
                  <div className="kpi-value" data-testid="win-rate">
                    {stats?.winRate == null ? '—' : `${Math.round(stats.winRate * 100)}%`}
                  </div>
                  <div className="muted">
                    {stats?.won ?? 0} won · {stats?.lost ?? 0} lost
                  </div>
                </>
              )}
            </section>
            <section className="card kpi" aria-labelledby="kpi-open">
              <h2 id="kpi-open">Open pipeline</h2>
              {stats ? (
                <>
                  <div className="kpi-value">{money(stats.byStage.filter((s) => !s.stage.startsWith('closed')).reduce((n, s) => n + s.amount, 0))}</div>
                  <div className="muted">
                    {plural(stats.byStage.filter((s) => !s.stage.startsWith('closed')).reduce((n, s) => n + s.count, 0), 'open opportunity', 'open opportunities')}
                    {stats.mixedCurrencies ? ' · several currencies, summed unconverted' : ''}
                  </div>
                </>
              ) : (
                <Loading />
              )}
            </section>
            <section className="card kpi" aria-labelledby="kpi-q">
              <h2 id="kpi-q">Closing in {quarter.label}</h2>
              {closingQ.data ? (
                <>
                  <div className="kpi-value">{closingTotals.length ? closingTotals.map((x) => formatMoney(x.amount, x.currency)).join(' + ') : money(0)}</div>
                  <div className="muted">{plural(closingCount, 'opportunity', 'opportunities')}</div>
                </>
              ) : (
                <Loading />
              )}
            </section>

            <section className="card chart-card" aria-labelledby="ch-stage">
              <h2 id="ch-stage">Pipeline by stage</h2>
              {stats && stats.byStage.some((s) => s.count > 0) ? (
                <div className="chart" data-testid="chart-pipeline">
                  <ResponsiveContainer width="100%" height={280}>
                    <BarChart data={stats.byStage} margin={{ top: 8, right: 8, left: 8, bottom: 8 }}>
                      <CartesianGrid strokeDasharray="3 3" vertical={false} />
                      <XAxis dataKey="label" tick={{ fontSize: 12 }} interval={0} />
                      <YAxis yAxisId="amount" tickFormatter={(v: number) => money(v)} width={80} tick={{ fontSize: 12 }} />
                      <YAxis yAxisId="count" orientation="right" allowDecimals={false} width={32} tick={{ fontSize: 12 }} />
                      <Tooltip formatter={(v, name) => (name === 'Amount' ? money(Number(v)) : String(v))} />
                      <Legend />
                      <Bar yAxisId="amount" dataKey="amount" name="Amount" fill={COLORS[0]} isAnimationActive={false} />
                      <Bar yAxisId="count" dataKey="count" name="Count" fill={COLORS[2]} isAnimationActive={false} />
                    </BarChart>
                  </ResponsiveContainer>
                </div>
              ) : oppQ.isLoading ? (
                <Loading />
              ) : (
                <Empty title="No opportunities yet." />
              )}
              {stats && (
                <table className="mini-table" aria-label="Pipeline by stage">
                  <thead>
                    <tr>
                      <th scope="col">Stage</th>
                      <th scope="col">Count</th>
                      <th scope="col">Amount</th>
                    </tr>
                  </thead>
                  <tbody>
                    {stats.byStage.map((s) => (
                      <tr key={s.stage}>
                        <td>{s.label}</td>
                        <td>{s.count}</td>
                        <td>{money(s.amount)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>

            <section className="card chart-card" aria-labelledby="ch-win">
              <h2 id="ch-win">Won vs lost</h2>
              {stats && stats.won + stats.lost > 0 ? (
                <div className="chart" data-testid="chart-winrate">
                  <ResponsiveContainer width="100%" height={240}>
                    <PieChart>
                      <Pie
                        data={[
                          { name: 'Won', value: stats.won },
                          { name: 'Lost', value: stats.lost },
                        ]}
                        dataKey="value"
                        nameKey="name"
                        innerRadius={55}
                        outerRadius={90}
                        isAnimationActive={false}
                        label
                      >
                        <Cell fill={COLORS[1]} />
                        <Cell fill={COLORS[3]} />
                      </Pie>
                      <Tooltip />
                      <Legend />
                    </PieChart>
                  </ResponsiveContainer>
                </div>
              ) : (
                <Empty title="No closed opportunities yet." />
              )}
            </section>

            <section className="card" aria-labelledby="list-q">
              <h2 id="list-q">Closing this quarter</h2>
              {closing.length === 0 ? (
                closingQ.isLoading ? <Loading /> : <Empty title={`Nothing open closes in ${quarter.label}.`} />
              ) : (
                <ul className="related-list">
                  {closing.slice(0, 10).map((r) => (
                    <li key={r.id}>
                      <Link to={recordPath('opportunities', r.id)}>{String(r.name)}</Link>
                      <span className="muted">
                        {' '}
                        · {formatMoney(r.amount as string, r.currency as string | null)} · {formatDate(String(r.closeDate))} · {humanize(String(r.stage))}
                      </span>
                    </li>
                  ))}
                </ul>
              )}
            </section>
          </>
        )}
        {casesMeta && (
          <section className="card chart-card" aria-labelledby="ch-cases">
            <h2 id="ch-cases">Cases by status and priority</h2>
            {caseQ.isLoading ? (
              <Loading />
            ) : caseQ.error ? (
              <ErrorState error={caseQ.error} />
            ) : caseTotal > 0 ? (
              <div className="chart" data-testid="chart-cases">
                <ResponsiveContainer width="100%" height={260}>
                  <BarChart data={matrix} margin={{ top: 8, right: 8, left: 0, bottom: 8 }}>
                    <CartesianGrid strokeDasharray="3 3" vertical={false} />
                    <XAxis dataKey="status" tick={{ fontSize: 12 }} />
                    <YAxis allowDecimals={false} width={32} tick={{ fontSize: 12 }} />
                    <Tooltip />
                    <Legend />
                    {priorities.map((p, i) => (
                      <Bar key={p} dataKey={p} name={humanize(p)} stackId="p" fill={PRIORITY_COLORS[p] ?? COLORS[i % COLORS.length]} isAnimationActive={false} />
                    ))}
                  </BarChart>
                </ResponsiveContainer>
              </div>
            ) : (
              <Empty title="No cases yet." />
            )}
          </section>
        )}
      </div>
    </div>
  );
}
