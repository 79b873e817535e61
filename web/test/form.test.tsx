import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../src/api/client.ts';
import { RecordForm } from '../src/components/RecordForm.tsx';
import { accountsMeta, mockApi, wrap } from './fixtures.tsx';

describe('RecordForm (generated from metadata)', () => {
  it('renders every editable field, custom ones included, and no system fields', () => {
    mockApi(() => undefined);
    render(wrap(<RecordForm meta={accountsMeta} submit={async () => {}} />));
    expect(screen.getByLabelText(/Account name/)).toBeTruthy();
    expect(screen.getByLabelText(/Region/)).toBeTruthy();
    expect(screen.getByText('custom')).toBeTruthy();
    expect(screen.queryByLabelText(/^Version/)).toBeNull();
    expect(screen.queryByLabelText(/^Id$/)).toBeNull();
  });

  it('validates on the client with the server’s own rules and does not submit', async () => {
    mockApi(() => undefined);
    const submit = vi.fn(async () => {});
    render(wrap(<RecordForm meta={accountsMeta} submit={submit} />));
    await userEvent.type(screen.getByLabelText(/Employees/), '12.5');
    await userEvent.type(screen.getByLabelText(/Website/), 'not a url');
    await userEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect(submit).not.toHaveBeenCalled();
    expect(screen.getByText('Account name is required')).toBeTruthy();
    expect(screen.getByText('Employees must be an integer')).toBeTruthy();
    expect(screen.getByText('Website must be a URL')).toBeTruthy();
    expect(screen.getByLabelText(/Account name/).getAttribute('aria-invalid')).toBe('true');
  });

  it('sends typed values and shows server errors on the field they belong to', async () => {
    mockApi(() => undefined);
    const submit = vi.fn(async (_values: Record<string, unknown>) => {
      throw new ApiError(400, { code: 'validation_failed', detail: 'Validation failed', errors: [{ path: '/name', message: 'is already taken' }] });
    });
    render(wrap(<RecordForm meta={accountsMeta} submit={submit} />));
    await userEvent.type(screen.getByLabelText(/Account name/), 'Acme');
    await userEvent.type(screen.getByLabelText(/Employees/), '250');
    await userEvent.selectOptions(screen.getByLabelText(/Region/), 'EMEA');
    await userEvent.click(screen.getByRole('button', { name: 'Create account' }));
    await waitFor(() => expect(submit).toHaveBeenCalledTimes(1));
    expect(submit.mock.calls[0][0]).toEqual({ name: 'Acme', employees: 250, region: 'EMEA' });
    expect(await screen.findByText('Account name is already taken')).toBeTruthy();
    expect(screen.getByRole('alert').textContent).toMatch(/correct the highlighted/);
  });

  it('on edit sends only the fields that changed', async () => {
    mockApi(() => undefined);
    const submit = vi.fn(async () => {});
    const record = { id: 'a1', version: 3, name: 'Acme', employees: 10, website: null, industry: 'retail', region: null };
    render(wrap(<RecordForm meta={accountsMeta} record={record} submit={submit} />));
    const employees = screen.getByLabelText(/Employees/);
    await userEvent.clear(employees);
    await userEvent.type(employees, '11');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(submit).toHaveBeenCalledWith({ employees: 11 }));
  });
});
