import { useInfiniteQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { errorMessage, type Filter, listRecords } from '../api/client.ts';
import { useUsers } from '../api/lookups.ts';
import { can, fieldOf, useObjectMeta } from '../api/metadata.ts';
import type { Session } from '../api/session.ts';
import { useSaveRecord } from '../components/conflict.tsx';
import { FieldValue } from '../components/fields.tsx';
import { Badge, Empty, ErrorState, Loading, PageHeader, useToast } from '../components/ui.tsx';
import { formatDateTime, humanize } from '../lib/fields.ts';
import { Link, recordPath } from '../lib/router.tsx';

type Tab = 'mine' | 'team' | 'unassigned';
const OPEN_STATUSES = ['new', 'open', 'pending'];
const PRIORITY_RANK: Record<string, number> = { urgent: 0, high: 1, medium: 2, low: 3 };

/** The support agent's queue: open cases that are mine, my team's, or nobody's. */
export function CaseQueue({ session }: { session: Session }) {
  const [tab, setTab] = useState<Tab>('mine');
  const { meta, isLoading, error } = useObjectMeta('cases');
  const users = useUsers();
  const save = useSaveRecord();
  const toast = useToast();
  const me = users.data?.find((u) => u.id === session.user.id);
  const teamId = me?.teamId ?? session.user.teamId ?? null;
  const teammates = teamId ? (users.data ?? []).filter((u) => u.teamId === teamId).map((u) => u.id) : [];

  const statuses = (meta && fieldOf(meta, 'status')?.options?.filter((s) => OPEN_STATUSES.includes(s))) ?? OPEN_STATUSES;
  const filters: Filter[] = [{ field: 'status', op: 'in', value: statuses.join(',') }];
  if (tab === 'mine') filters.push({ field: 'ownerId', op: 'eq', value: session.user.id });
  if (tab === 'team') filters.push({ field: 'ownerId', op: 'in', value: teammates.join(',') });
  if (tab === 'unassigned') filters.push({ field: 'ownerId', op: 'isNull', value: 'true' });
  const enabled = Boolean(meta) && (tab !== 'team' || teammates.length > 0);

  const q = useInfiniteQuery({
    queryKey: ['list', 'cases', 'queue', tab, filters],
    enabled,
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) => listRecords('cases', { filters, sort: 'createdAt', limit: 100, cursor: pageParam }, signal),
    getNextPageParam: (p) => p.nextCursor,
  });
  if (isLoading) return <Loading />;
  if (error) return <ErrorState error={error} />;
  if (!meta) return <Empty title="Cases are not available to your role." />;
  // Most urgent first, then oldest first within a priority.
  const rows = (q.data?.pages.flatMap((p) => p.data) ?? []).sort(
    (a, b) => (PRIORITY_RANK[String(a.priority)] ?? 9) - (PRIORITY_RANK[String(b.priority)] ?? 9) || String(a.createdAt).localeCompare(String(b.createdAt)),
  );

  const takeIt = async (r: (typeof rows)[number]) => {
    try {
      const saved = await save('cases', r, { ownerId: session.user.id, ...(r.status === 'new' ? { status: 'open' } : {}) });
      if (saved) toast('ok', `You now own “${String(r.subject)}”.`);
    } catch (err) {
      toast('error', errorMessage(err));
    }
  };

  const tabs: [Tab, string][] = [
    ['mine', 'Mine'],
    ['team', 'My team'],
    ['unassigned', 'Unassigned'],
  ];
  return (
    <div className="case-queue">
      <PageHeader title="Case queue" sub="Open cases (new, open, pending), most urgent first">
        {can(meta, 'create') && (
          <Link to="/o/cases/new" className="btn btn-primary">
            New case
          </Link>
        )}
      </PageHeader>
      <div className="tabs" role="tablist" aria-label="Queue">
        {tabs.map(([t, label]) => (
          <button key={t} type="button" role="tab" aria-selected={tab === t} className={tab === t ? 'active' : undefined} onClick={() => setTab(t)}>
            {label}
          </button>
        ))}
      </div>
      <div role="tabpanel">
        {tab === 'team' && !users.isLoading && teammates.length === 0 && (
          <Empty title={users.data === null ? 'Teams need the users API, which this server does not offer yet.' : 'You are not in a team.'} />
        )}
        {q.isLoading && enabled && <Loading />}
        {q.error && <ErrorState error={q.error} retry={() => void q.refetch()} />}
        {q.isSuccess && rows.length === 0 && <Empty title="Nothing waiting here. Nice work." />}
        {rows.length > 0 && (
          <div className="table-wrap">
            <table className="data-table" aria-label="Cases">
              <thead>
                <tr>
                  <th scope="col">Subject</th>
                  <th scope="col">Priority</th>
                  <th scope="col">Status</th>
                  <th scope="col">Account</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Opened</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.id}>
                    <td data-label="Subject">
                      <Link to={recordPath('cases', r.id)}>{String(r.subject)}</Link>
                    </td>
                    <td data-label="Priority">
                      <Badge tone={`prio-${String(r.priority)}`}>{humanize(String(r.priority))}</Badge>
                    </td>
                    <td data-label="Status">{humanize(String(r.status))}</td>
                    <td data-label="Account">
                      <FieldValue field={fieldOf(meta, 'accountId')} value={r.accountId} />
                    </td>
                    <td data-label="Owner">
                      <FieldValue field={fieldOf(meta, 'ownerId')} value={r.ownerId} />
                    </td>
                    <td data-label="Opened">{formatDateTime(String(r.createdAt))}</td>
                    <td>
                      {r.ownerId !== session.user.id && can(meta, 'update') && (
                        <button type="button" className="btn btn-sm" onClick={() => void takeIt(r)}>
                          Assign to me
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {q.hasNextPage && (
          <div className="load-more">
            <button type="button" className="btn" onClick={() => void q.fetchNextPage()} disabled={q.isFetchingNextPage}>
              Load more
            </button>
          </div>
        )}
      </div>
    </div>
  );
}
