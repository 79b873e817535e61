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
      if (c.url.startsWith('/api/v1/opportunities?'))
        return {
          body: {
            data: [
              { id: 'o1', version: 4, name: 'Big deal', stage: 'prospecting', amount: '1000.00', currency: 'EUR' },
              { id: 'o2', version: 1, name: 'Small deal', stage: 'prospecting', amount: '500.00', currency: 'EUR' },
            ],
            nextCursor: null,
          },
        };
      if (c.method === 'PATCH') return { body: { id: 'o1', version: 5, name: 'Big deal', stage: 'proposal' } };
      return undefined;
    });
    render(wrap(<Pipeline />));
    expect((await screen.findByTestId('amount-prospecting')).textContent).toMatch(/1,500/);
    await userEvent.selectOptions(screen.getByLabelText('Stage of Big deal'), 'proposal');
    await waitFor(() => expect(calls.some((c) => c.method === 'PATCH')).toBe(true));
    const patch = calls.find((c) => c.method === 'PATCH')!;
    expect(patch.url).toBe('/api/v1/opportunities/o1');
    expect(patch.body).toEqual({ stage: 'proposal' });
    expect(patch.headers['if-match']).toBe('"4"');
  });
});
