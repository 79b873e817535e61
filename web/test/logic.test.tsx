import { describe, expect, it } from 'vitest';
import { listQueryString } from '../src/api/client.ts';
import { defaultColumns } from '../src/api/metadata.ts';
import { fromDraft, toDraft, validateValue } from '../src/lib/fields.ts';
import { nextSort } from '../src/lib/views.ts';
import { camel } from '../src/screens/Admin.tsx';
import { casesMatrix, pipelineStats, quarterBounds } from '../src/screens/Dashboard.tsx';
import { totalsFromGroups } from '../src/api/aggregate.ts';
import { formatGroupTotals, moveInTotals } from '../src/screens/Pipeline.tsx';
import { accountsMeta, field } from './fixtures.tsx';

describe('field values', () => {
  it('turns inputs into API values and back', () => {
    expect(fromDraft(field('n', 'integer'), ' 42 ')).toBe(42);
    expect(fromDraft(field('n', 'decimal'), '1,250.5')).toBe('1250.5');
    expect(fromDraft(field('c', 'currencyCode'), 'eur')).toBe('EUR');
    expect(fromDraft(field('t', 'text'), '   ')).toBeNull();
    expect(fromDraft(field('b', 'boolean'), false)).toBe(false);
    expect(fromDraft(field('m', 'currency'), { amount: '10', currency: 'usd' })).toEqual({ amount: '10', currency: 'USD' });
    expect(toDraft(field('m', 'currency'), null)).toEqual({ amount: '', currency: '' });
  });

  it('mirrors the server’s validation messages', () => {
    expect(validateValue(field('e', 'email'), 'nope')).toBe('must be an email address');
    expect(validateValue(field('d', 'date'), '2026-02-30')).toBe('must be a date (YYYY-MM-DD)');
    expect(validateValue(field('p', 'picklist', { options: ['a', 'b'] }), 'c')).toBe('must be one of: a, b');
    expect(validateValue(field('r', 'text', { required: true }), null)).toBe('is required');
    expect(validateValue(field('x', 'decimal'), '12.345')).toMatch(/at most 18 digits and 2 decimals/);
    expect(validateValue(field('x', 'decimal'), '12.34')).toBeNull();
  });
});

describe('lists', () => {
  it('builds the API query string from filters, sort, cursor and fields', () => {
    const qs = listQueryString({
      filters: [
        { field: 'stage', op: 'in', value: 'proposal,negotiation' },
        { field: 'amount', op: 'gte', value: '1000' },
      ],
      sort: '-amount,name',
      limit: 50,
      cursor: 'abc',
      fields: ['name', 'amount'],
    });
    expect(decodeURIComponent(qs)).toBe('?filter[stage][in]=proposal,negotiation&filter[amount][gte]=1000&sort=-amount,name&limit=50&cursor=abc&fields=name,amount');
  });

  it('cycles sort ascending → descending → default', () => {
    expect(nextSort('-createdAt', 'name', '-createdAt')).toBe('name');
    expect(nextSort('name', 'name', '-createdAt')).toBe('-name');
    expect(nextSort('-name', 'name', '-createdAt')).toBe('-createdAt');
  });

  it('starts with the title fields as columns', () => {
    expect(defaultColumns(accountsMeta)[0]).toBe('name');
    expect(defaultColumns(accountsMeta)).toContain('region');
  });

  it('derives camelCase API names from labels', () => {
    expect(camel('Customer Tier')).toBe('customerTier');
    expect(camel('2nd Region!')).toBe('ndRegion');
  });
});

describe('pipeline and dashboard figures', () => {
  const g = (stage: string, currency: string | null, count: number, sum: string) => ({ key: stage, group: { stage, currency }, count, sum });
  const groups = [g('proposal', 'EUR', 2, '150.50'), g('closed_won', 'USD', 2, '11.00'), g('closed_lost', null, 1, '0.00')];

  it('sums per currency, never mixing them', () => {
    expect(totalsFromGroups(groups)).toEqual([
      { currency: 'EUR', amount: 150.5 },
      { currency: 'USD', amount: 11 },
    ]);
    expect(formatGroupTotals([])).toBe('0');
  });

  it('moves a card between column totals until the server answers', () => {
    const moved = moveInTotals(groups, { id: 'x', version: 1, stage: 'proposal', amount: '50.50', currency: 'EUR' }, 'closed_won');
    expect(moved).toEqual([g('proposal', 'EUR', 1, '100.00'), g('closed_won', 'USD', 2, '11.00'), g('closed_lost', null, 1, '0.00'), g('closed_won', 'EUR', 1, '50.50')]);
  });

  it('computes counts, amounts per stage and the win rate', () => {
    const s = pipelineStats(groups, ['proposal', 'closed_won', 'closed_lost']);
    expect(s.byStage.map((x) => [x.stage, x.count, x.amount])).toEqual([
      ['proposal', 2, 150.5],
      ['closed_won', 2, 11],
      ['closed_lost', 1, 0],
    ]);
    expect(s.winRate).toBeCloseTo(2 / 3);
    expect(s.mixedCurrencies).toBe(true);
  });

  it('knows the quarter and counts cases by status and priority', () => {
    expect(quarterBounds(new Date(2026, 10, 15))).toEqual({ start: '2026-10-01', end: '2026-12-31', label: 'Q4 2026' });
    expect(quarterBounds(new Date(2026, 1, 3)).end).toBe('2026-03-31');
    const c = (status: string, priority: string, count: number) => ({ key: status, group: { status, priority }, count });
    const m = casesMatrix([c('new', 'high', 2), c('open', 'low', 1)], ['new', 'open'], ['low', 'high']);
    expect(m).toEqual([
      { status: 'New', low: 0, high: 2 },
      { status: 'Open', low: 1, high: 0 },
    ]);
  });
});
