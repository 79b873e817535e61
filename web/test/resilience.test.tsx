import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { setSessionFromTokens } from '../src/api/session.ts';
import { type ExperimentResult, formatMs, historyByExperiment, Resilience } from '../src/screens/Resilience.tsx';
import { mockApi, wrap } from './fixtures.tsx';
import type { Json } from '../../src/objects/field-types.ts';

const user = { id: 'u1', email: 'a@b.c', name: 'A', role: 'rep', organizationId: 'o1' };

function result(n: number, experiment: string, passed: boolean, metrics: Record<string, Json> = {}, details: Record<string, Json> = {}): ExperimentResult {
  const at = new Date(Date.UTC(2026, 10, 1, 12, n)).toISOString();
  return {
    id: `r${n}-${experiment}`,
    runId: `run-${n}`,
    experiment,
    title: experiment === 'primary-failover' ? 'Primary database fails over' : 'API node killed',
    hypothesis: 'Clients see no lost acknowledged writes.',
    passed,
    startedAt: at,
    finishedAt: at,
    metrics,
    details,
    environment: {},
    createdBy: 'u0',
    createdAt: at,
  };
}

const full = {
  requests: 1234,
  httpAttempts: 1240,
  clientErrors: 6,
  failedOps: 0,
  errorRate: 0.00484,
  p50Ms: 12,
  p99Ms: 480,
  maxMs: 2350,
  writeUnavailableMs: 1800,
  dbOutageMs: 4200,
  ackedWrites: 400,
  writesLost: 0,
  writesDuplicated: 0,
  eventsLost: 0,
  eventsDuplicated: 1,
  durationMs: 60000,
};

describe('resilience screen', () => {
  it('lists results newest first with PASS/FAIL, the stored metrics, a history strip per experiment and paging', async () => {
    setSessionFromTokens({ accessToken: 'a', refreshToken: 'r', expiresIn: 900, user });
    const newest = result(9, 'primary-failover', false, full, {
      checks: [
        { name: 'acknowledged writes lost = 0', ok: true, detail: '400 acknowledged, 0 lost' },
        { name: 'events lost = 0, duplicated = 0', ok: false, detail: 'lost 0, duplicated 1' },
      ],
    });
    const page1 = [
      newest,
      result(8, 'api-node-kill', true, { requests: 500, errorRate: 0, p50Ms: 9, p99Ms: 40, maxMs: 90, eventsLost: null, eventsDuplicated: null }),
      result(7, 'primary-failover', true, full),
    ];
    const page2 = [result(1, 'primary-failover', true, full)];
    const calls = mockApi((c) => {
      if (c.url.startsWith('/api/v1/resilience/experiments')) {
        const cursor = new URL(c.url, 'http://x').searchParams.get('cursor');
        return { body: cursor === 'c2' ? { data: page2, nextCursor: null } : { data: page1, nextCursor: 'c2' } };
      }
      return undefined;
    });
    render(wrap(<Resilience />));
    const table = await screen.findByRole('table', { name: 'Experiment results' });
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows).toHaveLength(3);
    // Newest first, with its badge and every stored metric.
    expect(within(rows[0]).getByText('FAIL')).toBeTruthy();
    expect(within(rows[0]).getByText('Primary database fails over')).toBeTruthy();
    expect(rows[0].textContent).toContain('1,234');
    expect(rows[0].textContent).toContain('0.48%');
    expect(rows[0].textContent).toContain('480 ms');
    expect(rows[0].textContent).toContain('2.35 s');
    expect(rows[0].textContent).toContain('1.80 s');
    expect(rows[0].textContent).toContain('4.20 s');
    expect(within(rows[0]).getByLabelText('Acknowledged writes: 0 lost, 0 duplicated')).toBeTruthy();
    expect(within(rows[0]).getByLabelText('Events: 0 lost, 1 duplicated')).toBeTruthy();
    expect(within(rows[1]).getByText('PASS')).toBeTruthy();
    // What the record did not measure is said, not shown as zero.
    expect(within(rows[1]).getAllByText('not measured')).toHaveLength(2);
    expect(within(rows[1]).getByText('—', { selector: 'td[data-label="Database outage"]' })).toBeTruthy();
    expect(calls[0].url).toBe('/api/v1/resilience/experiments?limit=100');

    // History strip: one per experiment, oldest → newest.
    const strip = screen.getByRole('list', { name: /results of primary-failover/ });
    expect(strip.getAttribute('aria-label')).toContain('1 passed, 1 failed');
    expect([...strip.querySelectorAll('li')].map((li) => li.className)).toEqual(['history-mark mark-pass', 'history-mark mark-fail']);
    expect(screen.getByRole('list', { name: /results of api-node-kill/ }).querySelectorAll('.mark-pass')).toHaveLength(1);

    // Details open with the keyboard and show the checks.
    const details = within(rows[0]).getByRole('button', { name: /Show details of primary-failover/ });
    details.focus();
    await userEvent.keyboard('{Enter}');
    expect(details.getAttribute('aria-expanded')).toBe('true');
    expect(await screen.findByText('events lost = 0, duplicated = 0')).toBeTruthy();
    expect(screen.getByText(/Clients see no lost acknowledged writes/)).toBeTruthy();

    // Older results load with the cursor and extend the strip.
    await userEvent.click(screen.getByRole('button', { name: 'Load older results' }));
    await waitFor(() => expect(within(table).getAllByText('Primary database fails over')).toHaveLength(3));
    expect(calls.some((c) => c.url.includes('cursor=c2'))).toBe(true);
    expect(screen.getByRole('list', { name: /results of primary-failover/ }).getAttribute('aria-label')).toContain('2 passed, 1 failed');
    expect(screen.queryByRole('button', { name: 'Load older results' })).toBeNull();
  });

  it('explains npm run chaos when nothing is stored, and shows API errors with a retry', async () => {
    setSessionFromTokens({ accessToken: 'a', refreshToken: 'r', expiresIn: 900, user });
    let fail = true;
    mockApi((c) => {
      if (!c.url.startsWith('/api/v1/resilience/experiments')) return undefined;
      if (fail) return { status: 500, body: { code: 'internal', detail: 'Database unavailable' } };
      return { body: { data: [], nextCursor: null } };
    });
    render(wrap(<Resilience />));
    // 500 is not retried by the client (only 502–504), so the error shows at once.
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Database unavailable');
    fail = false;
    await userEvent.click(within(alert).getByRole('button', { name: 'Try again' }));
    expect(await screen.findByText('No chaos experiments recorded yet.')).toBeTruthy();
    expect(screen.getByText('npm run chaos')).toBeTruthy();
    expect(screen.queryByRole('table')).toBeNull();
  });

  it('keeps the last N results per experiment and formats durations', () => {
    const rows = Array.from({ length: 30 }, (_, i) => result(30 - i, 'api-node-kill', i % 2 === 0));
    const h = historyByExperiment(rows, 20);
    expect(h).toHaveLength(1);
    expect(h[0].results).toHaveLength(20);
    expect(h[0].results[19].id).toBe(rows[0].id); // newest last
    expect(formatMs(undefined)).toBe('—');
    expect(formatMs(999)).toBe('999 ms');
    expect(formatMs(12_345)).toBe('12.3 s');
  });
});
