import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { describe, expect, it } from 'vitest';
import type { ApiRecord } from '../src/api/client.ts';
import { useSaveRecord } from '../src/components/conflict.tsx';
import { accountsMeta, mockApi, wrap } from './fixtures.tsx';

function Saver({ record, values }: { record: ApiRecord; values: Record<string, unknown> }) {
  const save = useSaveRecord();
  const [result, setResult] = useState('pending');
  return (
    <>
      <button type="button" onClick={() => void save('accounts', record, values).then((r) => setResult(r ? `saved v${r.version} ${String(r.name)}` : 'kept theirs'))}>
        save
      </button>
      <output>{result}</output>
    </>
  );
}

const mine = { id: 'a1', version: 1, name: 'Mine Inc' } as ApiRecord;
const current = { id: 'a1', version: 2, name: 'Theirs Ltd', employees: 5 };

function api412(onRetry: (body: unknown, ifMatch: string) => void) {
  let patches = 0;
  return mockApi((c) => {
    if (c.url === '/api/v1/metadata/objects') return { body: { data: [accountsMeta] } };
    if (c.method === 'PATCH') {
      patches++;
      if (patches === 1) {
        return {
          status: 412,
          body: { code: 'version_conflict', detail: 'Someone changed name', conflicts: [{ field: 'name', yours: 'Mine Inc', theirs: 'Theirs Ltd' }], current },
        };
      }
      onRetry(c.body, c.headers['if-match']);
      return { body: { ...current, ...(c.body as object), version: 3 } };
    }
    return undefined;
  });
}

describe('conflict dialog on 412', () => {
  it('shows both values side by side and saves mine only when I choose it, against the current version', async () => {
    let retried: { body: unknown; ifMatch: string } | null = null;
    const calls = api412((body, ifMatch) => {
      retried = { body, ifMatch };
    });
    render(wrap(<Saver record={mine} values={{ name: 'Mine Inc' }} />));
    await userEvent.click(screen.getByRole('button', { name: 'save' }));
    const dialog = await screen.findByRole('dialog', { name: /Someone else changed this record/ });
    expect(screen.getByTestId('yours-name').textContent).toBe('Mine Inc');
    expect(screen.getByTestId('theirs-name').textContent).toBe('Theirs Ltd');
    expect(dialog).toBeTruthy();
    expect(calls.filter((c) => c.method === 'PATCH')[0].headers['if-match']).toBe('"1"');
    await userEvent.click(screen.getByRole('button', { name: 'Save my choices' }));
    await screen.findByText('saved v3 Mine Inc');
    expect(retried).toEqual({ body: { name: 'Mine Inc' }, ifMatch: '"2"' });
  });

  it('keeps their value without writing when I choose theirs', async () => {
    let retried = false;
    const calls = api412(() => {
      retried = true;
    });
    render(wrap(<Saver record={mine} values={{ name: 'Mine Inc' }} />));
    await userEvent.click(screen.getByRole('button', { name: 'save' }));
    await screen.findByRole('dialog');
    await userEvent.click(screen.getByRole('radio', { name: /Keep their value for Account name/ }));
    await userEvent.click(screen.getByRole('button', { name: 'Save my choices' }));
    await screen.findByText('kept theirs');
    expect(retried).toBe(false);
    expect(calls.filter((c) => c.method === 'PATCH')).toHaveLength(1);
  });
});
