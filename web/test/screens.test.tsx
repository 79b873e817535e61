import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { setSessionFromTokens } from '../src/api/session.ts';
import { ListView } from '../src/screens/ListView.tsx';
import { Pipeline } from '../src/screens/Pipeline.tsx';
import { accountsMeta, mockApi, opportunitiesMeta, wrap } from './fixtures.tsx';

const user = { id: 'u1', email: 'a@b.c', name: 'A', role: 'admin', organizationId: 'o1' };
const meta = { body: { data: [accountsMeta, opportunitiesMeta] } };

describe('list view', () => {
  it('renders columns from metadata, pages with the cursor and sorts through the API', async () => {
    setSessionFromTokens({ accessToken: 'a', refreshToken: 'r', expiresIn: 900, user });
    const calls = mockApi((c) => {
      if (c.url === '/api/v1/metadata/objects') return meta;
      if (c.url.startsWith('/api/v1/users')) return { body: { data: [], nextCursor: null } };
      if (c.url.startsWith('/api/v1/accounts?')) {
        const u = new URL(c.url, 'http://x');
        if (u.searchParams.get('cursor') === 'c2') return { body: { data: [{ id: 'b', version: 1, name: 'Beta', region: 'AMER' }], nextCursor: null } };
        return { body: { data: [{ id: 'a', version: 1, name: 'Alpha', region: 'EMEA', employees: 5 }], nextCursor: 'c2' } };
      }
      return undefined;
    });
    render(wrap(<ListView object="accounts" userId="u1" />));
    const table = await screen.findByRole('table', { name: 'Accounts' });
    expect(within(table).getByText('Alpha')).toBeTruthy();
    expect(within(table).getByRole('columnheader', { name: /Region/ })).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Load more' }));
    expect(await within(table).findByText('Beta')).toBeTruthy();
    await userEvent.click(within(table).getByRole('button', { name: /Account name/ }));
    await waitFor(() => expect(calls.some((c) => c.url.includes('sort=name'))).toBe(true));
  });

  it('shows the server’s count, keeps saved views on the server and imports this browser’s old ones once', async () => {
    setSessionFromTokens({ accessToken: 'a', refreshToken: 'r', expiresIn: 900, user });
    localStorage.setItem(
      'basalt.views.u1.accounts',
      JSON.stringify([{ name: 'Old local', columns: ['name'], filters: [{ field: 'region', op: 'eq', value: 'EMEA' }], sort: 'name' }]),
    );
    const views = [{ id: 'v1', object: 'accounts', name: 'Banks', version: 1, definition: { columns: ['name', 'industry'], filters: [{ field: 'industry', op: 'eq', value: 'banking' }], sort: 'name' } }];
    const calls = mockApi((c) => {
      if (c.url === '/api/v1/metadata/objects') return meta;
      if (c.url.startsWith('/api/v1/accounts/count')) return { body: { count: c.url.includes('filter') ? 3 : 1234 } };
      if (c.url === '/api/v1/views?object=accounts' && c.method === 'GET') return { body: { data: views } };
      if (c.url === '/api/v1/views' && c.method === 'POST') {
        const body = c.body as { name: string; definition: unknown };
        views.push({ id: `v${views.length + 1}`, object: 'accounts', name: body.name, version: 1, definition: body.definition as (typeof views)[0]['definition'] });
        return { status: 201, body: views[views.length - 1] };
      }
      if (c.url.startsWith('/api/v1/accounts?')) return { body: { data: [{ id: 'a', version: 1, name: 'Alpha' }], nextCursor: null } };
      return undefined;
    });
    render(wrap(<ListView object="accounts" userId="u1" />));
    expect(await screen.findByText(/1,234 accounts/)).toBeTruthy();
    // The old local view goes to the server once, then is forgotten here.
    await waitFor(() => expect(calls.filter((c) => c.method === 'POST' && c.url === '/api/v1/views')).toHaveLength(1));
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({
      object: 'accounts',
      name: 'Old local',
      definition: { columns: ['name'], filters: [{ field: 'region', op: 'eq', value: 'EMEA' }], sort: 'name' },
    });
    expect(localStorage.getItem('basalt.views.u1.accounts')).toBeNull();
    const picker = screen.getByRole('combobox', { name: 'View' });
    await waitFor(() => expect(within(picker).getByRole('option', { name: 'Old local' })).toBeTruthy());
    await userEvent.selectOptions(picker, 'v1');
    await waitFor(() => expect(calls.some((c) => decodeURIComponent(c.url).includes('/api/v1/accounts?filter[industry][eq]=banking'))).toBe(true));
    expect(await screen.findByText(/3 accounts matching the filters/)).toBeTruthy();
    // Saving under a new name creates it on the server.
    await userEvent.click(screen.getByRole('button', { name: 'Save view' }));
    await userEvent.clear(screen.getByRole('textbox', { name: 'View name' }));
    await userEvent.type(screen.getByRole('textbox', { name: 'View name' }), 'Banks by name');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(calls.filter((c) => c.method === 'POST' && c.url === '/api/v1/views')).toHaveLength(2));
    expect((calls.filter((c) => c.method === 'POST').pop()?.body as { name: string }).name).toBe('Banks by name');
  });

  it('applies a filter with the field’s operators', async () => {
    setSessionFromTokens({ accessToken: 'a', refreshToken: 'r', expiresIn: 900, user });
    const calls = mockApi((c) => {
      if (c.url === '/api/v1/metadata/objects') return meta;
      if (c.url.startsWith('/api/v1/accounts?')) return { body: { data: [], nextCursor: null } };
      return undefined;
    });
    render(wrap(<ListView object="accounts" userId="u1" />));
    await screen.findByText('No accounts yet.');
    await userEvent.click(screen.getByRole('button', { name: /Filters/ }));
    await userEvent.click(screen.getByRole('button', { name: 'Add filter' }));
    await userEvent.type(screen.getByRole('textbox', { name: 'Value' }), 'acme');
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(calls.some((c) => decodeURIComponent(c.url).includes('filter[name][contains]=acme'))).toBe(true));
    expect(await screen.findByText('No records match these filters.')).toBeTruthy();
  });
});

describe('pipeline', () => {
  it('shows a column per stage with amounts and moves a card with If-Match', async () => {
    setSessionFromTokens({ accessToken: 'a', refreshToken: 'r', expiresIn: 900, user });
    const calls = mockApi((c) => {
      if (c.url === '/api/v1/metadata/objects') return meta;
      if (c.url.startsWith('/api/v1/opportunities/aggregate?'))
        return { body: { data: [{ key: 'prospecting', group: { stage: 'prospecting', currency: 'EUR' }, count: 2, sum: '1500.00' }], truncated: false } };
      if (c.url.startsWith('/api/v1/opportunities?')) {
        const stage = new URL(c.url, 'http://x').searchParams.get('filter[stage][eq]');
        const cards = [
          { id: 'o1', version: 4, name: 'Big deal', stage: 'prospecting', amount: '1000.00', currency: 'EUR' },
          { id: 'o2', version: 1, name: 'Small deal', stage: 'prospecting', amount: '500.00', currency: 'EUR' },
        ];
        return { body: { data: cards.filter((r) => r.stage === stage), nextCursor: null } };
      }
      if (c.method === 'PATCH') return { body: { id: 'o1', version: 5, name: 'Big deal', stage: 'proposal' } };
      return undefined;
    });
    render(wrap(<Pipeline />));
    expect((await screen.findByTestId('amount-prospecting')).textContent).toMatch(/1,500/);
    expect(screen.getByTestId('count-prospecting').textContent).toMatch(/^2/);
    // Totals come from the aggregate; cards are loaded per column, never the whole pipeline.
    expect(calls.some((c) => c.url.includes('/aggregate?') && decodeURIComponent(c.url).includes('groupBy=stage,currency'))).toBe(true);
    expect(calls.filter((c) => c.url.startsWith('/api/v1/opportunities?')).every((c) => c.url.includes('limit=50'))).toBe(true);
    await userEvent.selectOptions(screen.getByLabelText('Stage of Big deal'), 'proposal');
    await waitFor(() => expect(calls.some((c) => c.method === 'PATCH')).toBe(true));
    const patch = calls.find((c) => c.method === 'PATCH')!;
    expect(patch.url).toBe('/api/v1/opportunities/o1');
    expect(patch.body).toEqual({ stage: 'proposal' });
    expect(patch.headers['if-match']).toBe('"4"');
  });
});
