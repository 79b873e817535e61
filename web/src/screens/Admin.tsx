import { useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useDeferredValue, useId, useState } from 'react';
import { api, ApiError, errorMessage, isMissingApi } from '../api/client.ts';
import { type UserSummary, useUsers } from '../api/lookups.ts';
import { metadataKey, useMetadata } from '../api/metadata.ts';
import { errorsByField } from '../components/RecordForm.tsx';
import { Badge, Empty, ErrorState, Loading, Modal, PageHeader, useToast } from '../components/ui.tsx';
import { formatDateTime, humanize } from '../lib/fields.ts';

const ROLES = ['admin', 'manager', 'rep', 'agent', 'readonly'];

interface Team {
  id: string;
  name: string;
}

function useTeams() {
  return useQuery({
    queryKey: ['teams'],
    queryFn: async ({ signal }) => {
      try {
        return (await api<{ data: Team[] }>('/api/v1/teams', { signal })).data.data;
      } catch (err) {
        if (isMissingApi(err)) return [];
        throw err;
      }
    },
  });
}

type AdminUser = UserSummary & { version?: number; status?: string; lastLoginAt?: string | null; mfaEnabled?: boolean };

function fieldErrors(err: unknown): Record<string, string> {
  if (!(err instanceof ApiError)) return {};
  const out: Record<string, string> = {};
  for (const e of err.errors) out[e.path.replace(/^\//, '')] = e.message;
  return out;
}

export function AdminUsers() {
  const [search, setSearch] = useState('');
  const [roleFilter, setRoleFilter] = useState('');
  const users = useUsers({ q: useDeferredValue(search.trim()), role: roleFilter });
  const teams = useTeams();
  const [adding, setAdding] = useState(false);
  const qc = useQueryClient();
  const toast = useToast();
  const update = async (u: AdminUser, patch: Record<string, unknown>) => {
    try {
      await api(`/api/v1/users/${u.id}`, { method: 'PATCH', body: patch, ifMatch: u.version });
      toast('ok', `${u.name || u.email} updated.`);
    } catch (err) {
      toast('error', errorMessage(err));
    } finally {
      await qc.invalidateQueries({ queryKey: ['users'] });
    }
  };
  const teamName = (id: string | null | undefined) => teams.data?.find((t) => t.id === id)?.name ?? '—';
  return (
    <div>
      <PageHeader title="Users and roles">
        <button type="button" className="btn btn-primary" onClick={() => setAdding(true)} disabled={users.data === null}>
          Add user
        </button>
      </PageHeader>
      <div className="toolbar" role="search" aria-label="Find users">
        <label className="inline-label">
          <span>Search</span>
          <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="Name or email" maxLength={200} />
        </label>
        <label className="inline-label">
          <span>Role</span>
          <select value={roleFilter} onChange={(e) => setRoleFilter(e.target.value)}>
            <option value="">All roles</option>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {humanize(r)}
              </option>
            ))}
          </select>
        </label>
      </div>
      {users.isLoading && <Loading />}
      {users.error && <ErrorState error={users.error} retry={() => void users.refetch()} />}
      {users.data === null && <Empty title="This server does not offer the users API yet." />}
      {users.data && (
        <div className="table-wrap">
          <table className="data-table" aria-label="Users">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Team</th>
                <th scope="col">Status</th>
                <th scope="col">Last sign-in</th>
              </tr>
            </thead>
            <tbody>
              {(users.data as AdminUser[]).map((u) => (
                <tr key={u.id}>
                  <td data-label="Name">{u.name}</td>
                  <td data-label="Email">{u.email}</td>
                  <td data-label="Role">
                    <select aria-label={`Role of ${u.name || u.email}`} value={u.role} onChange={(e) => void update(u, { role: e.target.value })}>
                      {ROLES.map((r) => (
                        <option key={r} value={r}>
                          {humanize(r)}
                        </option>
                      ))}
                    </select>
                  </td>
                  <td data-label="Team">
                    {teams.data && teams.data.length > 0 ? (
                      <select aria-label={`Team of ${u.name || u.email}`} value={u.teamId ?? ''} onChange={(e) => void update(u, { teamId: e.target.value || null })}>
                        <option value="">—</option>
                        {teams.data.map((t) => (
                          <option key={t.id} value={t.id}>
                            {t.name}
                          </option>
                        ))}
                      </select>
                    ) : (
                      teamName(u.teamId)
                    )}
                  </td>
                  <td data-label="Status">
                    {u.status && (
                      <button
                        type="button"
                        className="btn btn-sm"
                        aria-label={`${u.status === 'active' ? 'Disable' : 'Enable'} ${u.name || u.email}`}
                        onClick={() => void update(u, { status: u.status === 'active' ? 'disabled' : 'active' })}
                      >
                        <Badge tone={u.status === 'active' ? 'ok' : 'muted'}>{humanize(u.status)}</Badge>
                      </button>
                    )}
                    {u.mfaEnabled && <Badge>MFA</Badge>}
                  </td>
                  <td data-label="Last sign-in">{u.lastLoginAt ? formatDateTime(u.lastLoginAt) : 'Never'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {adding && <AddUserDialog teams={teams.data ?? []} onClose={() => setAdding(false)} />}
    </div>
  );
}

function AddUserDialog({ teams, onClose }: { teams: Team[]; onClose: () => void }) {
  const [form, setForm] = useState({ email: '', name: '', role: 'rep', password: '', teamId: '' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<{ email: string; generatedPassword?: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const qc = useQueryClient();
  const id = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(form.email)) local.email = 'must be an email address';
    if (!form.name.trim()) local.name = 'is required';
    if (form.password && form.password.length < 12) local.password = 'must be at least 12 characters';
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { email: form.email.trim(), name: form.name.trim(), role: form.role };
      if (form.password) body.password = form.password;
      if (form.teamId) body.teamId = form.teamId;
      const res = await api<{ email: string; generatedPassword?: string }>('/api/v1/users', { method: 'POST', body });
      await qc.invalidateQueries({ queryKey: ['users'] });
      setCreated(res.data);
    } catch (err) {
      setErrors(fieldErrors(err));
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  if (created)
    return (
      <Modal
        title="User added"
        onClose={onClose}
        footer={
          <button type="button" className="btn btn-primary" onClick={onClose}>
            Done
          </button>
        }
      >
        <p>{created.email} can now sign in.</p>
        {created.generatedPassword && (
          <p>
            Their generated password, shown only now: <code className="secret">{created.generatedPassword}</code>
          </p>
        )}
      </Modal>
    );
  return (
    <Modal title="Add user" onClose={onClose}>
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        {(['email', 'name'] as const).map((k) => (
          <div key={k} className="form-field">
            <label htmlFor={`${id}-${k}`}>{humanize(k)}</label>
            <input id={`${id}-${k}`} value={form[k]} onChange={set(k)} aria-invalid={Boolean(errors[k]) || undefined} type={k === 'email' ? 'email' : 'text'} />
            {errors[k] && <div className="field-error">{errors[k]}</div>}
          </div>
        ))}
        <div className="form-field">
          <label htmlFor={`${id}-role`}>Role</label>
          <select id={`${id}-role`} value={form.role} onChange={set('role')}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {humanize(r)}
              </option>
            ))}
          </select>
        </div>
        {teams.length > 0 && (
          <div className="form-field">
            <label htmlFor={`${id}-team`}>Team</label>
            <select id={`${id}-team`} value={form.teamId} onChange={set('teamId')}>
              <option value="">—</option>
              {teams.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name}
                </option>
              ))}
            </select>
          </div>
        )}
        <div className="form-field">
          <label htmlFor={`${id}-password`}>Password (leave empty to generate one)</label>
          <input id={`${id}-password`} type="password" autoComplete="new-password" value={form.password} onChange={set('password')} aria-invalid={Boolean(errors.password) || undefined} />
          {errors.password && <div className="field-error">{errors.password}</div>}
        </div>
        <div className="form-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? 'Adding…' : 'Add user'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

const FIELD_TYPES = ['text', 'textarea', 'email', 'phone', 'url', 'number', 'boolean', 'date', 'datetime', 'picklist', 'currency', 'lookup'];

export function AdminFields() {
  const meta = useMetadata();
  const [object, setObject] = useState('accounts');
  const obj = meta.data?.find((o) => o.name === object);
  const custom = obj?.fields.filter((f) => f.custom) ?? [];
  return (
    <div>
      <PageHeader title="Custom fields" sub="New fields appear at once in forms, lists, filters, search and the API." />
      {meta.isLoading && <Loading />}
      {meta.error && <ErrorState error={meta.error} />}
      {meta.data && (
        <>
          <label className="inline-label">
            <span>Object</span>
            <select value={object} onChange={(e) => setObject(e.target.value)}>
              {meta.data.map((o) => (
                <option key={o.name} value={o.name}>
                  {o.labelPlural}
                </option>
              ))}
            </select>
          </label>
          <div className="admin-grid">
            <section className="card" aria-labelledby="cf-list">
              <h2 id="cf-list">Custom fields on {obj?.labelPlural}</h2>
              {custom.length === 0 ? (
                <p className="muted">None yet.</p>
              ) : (
                <table className="mini-table">
                  <thead>
                    <tr>
                      <th scope="col">Label</th>
                      <th scope="col">API name</th>
                      <th scope="col">Type</th>
                      <th scope="col">Required</th>
                    </tr>
                  </thead>
                  <tbody>
                    {custom.map((f) => (
                      <tr key={f.name}>
                        <td>{f.label}</td>
                        <td>
                          <code>{f.name}</code>
                        </td>
                        <td>
                          {f.type}
                          {f.options ? ` (${f.options.join(', ')})` : ''}
                          {f.lookup ? ` → ${f.lookup}` : ''}
                        </td>
                        <td>{f.required ? 'Yes' : 'No'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </section>
            <NewFieldForm key={object} object={object} objects={meta.data.map((o) => o.name)} />
          </div>
        </>
      )}
    </div>
  );
}

function NewFieldForm({ object, objects }: { object: string; objects: string[] }) {
  const [label, setLabel] = useState('');
  const [name, setName] = useState('');
  const [type, setType] = useState('text');
  const [options, setOptions] = useState('');
  const [lookupObject, setLookupObject] = useState('accounts');
  const [required, setRequired] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const qc = useQueryClient();
  const toast = useToast();
  const id = useId();
  const derived = name || camel(label);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!label.trim()) local.label = 'is required';
    if (!/^[a-z][a-zA-Z0-9]{0,62}$/.test(derived)) local.name = 'must be camelCase: a lower-case letter, then letters and digits';
    const opts = options.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
    if (type === 'picklist' && opts.length === 0) local.options = 'a picklist needs at least one option';
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, unknown> = { name: derived, label: label.trim(), type, required };
      if (type === 'picklist') body.options = opts;
      if (type === 'lookup') body.lookupObject = lookupObject;
      await api(`/api/v1/metadata/objects/${object}/fields`, { method: 'POST', body });
      await qc.invalidateQueries({ queryKey: metadataKey });
      toast('ok', `Field “${label}” added.`);
      setLabel('');
      setName('');
      setOptions('');
      setRequired(false);
    } catch (err) {
      if (err instanceof ApiError) setErrors(errorsByField(err, [{ name: 'name' }, { name: 'label' }, { name: 'type' }, { name: 'options' }, { name: 'lookupObject' }] as never).byField);
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Add a field</h2>
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <div className="form-field">
          <label htmlFor={`${id}-label`}>Label</label>
          <input id={`${id}-label`} value={label} onChange={(e) => setLabel(e.target.value)} aria-invalid={Boolean(errors.label) || undefined} />
          {errors.label && <div className="field-error">Label {errors.label}</div>}
        </div>
        <div className="form-field">
          <label htmlFor={`${id}-name`}>API name</label>
          <input id={`${id}-name`} value={name} placeholder={camel(label)} onChange={(e) => setName(e.target.value)} aria-invalid={Boolean(errors.name) || undefined} />
          {errors.name && <div className="field-error">API name {errors.name}</div>}
        </div>
        <div className="form-field">
          <label htmlFor={`${id}-type`}>Type</label>
          <select id={`${id}-type`} value={type} onChange={(e) => setType(e.target.value)}>
            {FIELD_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        {type === 'picklist' && (
          <div className="form-field">
            <label htmlFor={`${id}-options`}>Options (one per line or comma-separated)</label>
            <textarea id={`${id}-options`} rows={3} value={options} onChange={(e) => setOptions(e.target.value)} aria-invalid={Boolean(errors.options) || undefined} />
            {errors.options && <div className="field-error">Options {errors.options}</div>}
          </div>
        )}
        {type === 'lookup' && (
          <div className="form-field">
            <label htmlFor={`${id}-lookup`}>Points to</label>
            <select id={`${id}-lookup`} value={lookupObject} onChange={(e) => setLookupObject(e.target.value)}>
              {objects.map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </select>
          </div>
        )}
        <label className="check">
          <input type="checkbox" checked={required} onChange={(e) => setRequired(e.target.checked)} /> Required
        </label>
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? 'Adding…' : 'Add field'}
          </button>
        </div>
      </form>
    </section>
  );
}

export function camel(label: string): string {
  const words = label
    .normalize('NFKD')
    .replace(/[^\w\s]/g, '')
    .trim()
    .split(/[\s_]+/)
    .filter(Boolean);
  const s = words.map((w, i) => (i === 0 ? w.toLowerCase() : w.charAt(0).toUpperCase() + w.slice(1).toLowerCase())).join('');
  return s.replace(/^[^a-z]+/, '');
}

interface ApiKey {
  id: string;
  name: string;
  role: string;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export function AdminApiKeys() {
  const keys = useQuery({
    queryKey: ['api-keys'],
    queryFn: async ({ signal }) => {
      try {
        return (await api<{ data: ApiKey[] }>('/api/v1/api-keys', { signal })).data.data;
      } catch (err) {
        if (isMissingApi(err)) return null;
        throw err;
      }
    },
  });
  const [name, setName] = useState('');
  const [role, setRole] = useState('readonly');
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const qc = useQueryClient();
  const toast = useToast();
  const id = useId();
  const create = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setError('Name is required');
      return;
    }
    setError(null);
    try {
      const res = await api<ApiKey & { key: string }>('/api/v1/api-keys', { method: 'POST', body: { name: name.trim(), role } });
      setCreated(res.data.key);
      setName('');
      await qc.invalidateQueries({ queryKey: ['api-keys'] });
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  const revoke = async (k: ApiKey) => {
    try {
      await api(`/api/v1/api-keys/${k.id}`, { method: 'DELETE' });
      toast('ok', `Key “${k.name}” revoked.`);
      await qc.invalidateQueries({ queryKey: ['api-keys'] });
    } catch (err) {
      toast('error', errorMessage(err));
    }
  };
  return (
    <div>
      <PageHeader title="API keys" sub="Keys let integrations call the API with a role of their own. A key is shown once, when it is created." />
      {keys.isLoading && <Loading />}
      {keys.error && <ErrorState error={keys.error} />}
      {keys.data === null && <Empty title="This server does not offer the API keys API yet." />}
      {keys.data && (
        <div className="admin-grid">
          <section className="card" aria-labelledby={`${id}-list`}>
            <h2 id={`${id}-list`}>Keys</h2>
            {keys.data.length === 0 ? (
              <p className="muted">No keys yet.</p>
            ) : (
              <table className="mini-table">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Key</th>
                    <th scope="col">Role</th>
                    <th scope="col">Last used</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {keys.data.map((k) => (
                    <tr key={k.id} className={k.revokedAt ? 'revoked' : undefined}>
                      <td>{k.name}</td>
                      <td>
                        <code>{k.prefix}…</code>
                      </td>
                      <td>{humanize(k.role)}</td>
                      <td>{k.lastUsedAt ? formatDateTime(k.lastUsedAt) : 'Never'}</td>
                      <td>
                        {k.revokedAt ? (
                          <Badge tone="muted">Revoked</Badge>
                        ) : (
                          <button type="button" className="btn btn-sm btn-danger" onClick={() => void revoke(k)}>
                            Revoke
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
          <section className="card" aria-labelledby={`${id}-new`}>
            <h2 id={`${id}-new`}>Create a key</h2>
            <form className="stack" onSubmit={(e) => void create(e)} noValidate>
              <label htmlFor={`${id}-name`}>Name</label>
              <input id={`${id}-name`} value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. Billing sync" />
              <label htmlFor={`${id}-role`}>Role</label>
              <select id={`${id}-role`} value={role} onChange={(e) => setRole(e.target.value)}>
                {ROLES.map((r) => (
                  <option key={r} value={r}>
                    {humanize(r)}
                  </option>
                ))}
              </select>
              {error && (
                <p className="form-error" role="alert">
                  {error}
                </p>
              )}
              <button type="submit" className="btn btn-primary">
                Create key
              </button>
            </form>
          </section>
        </div>
      )}
      {created && (
        <Modal
          title="Copy your new key"
          onClose={() => setCreated(null)}
          footer={
            <button type="button" className="btn btn-primary" onClick={() => setCreated(null)}>
              I have copied it
            </button>
          }
        >
          <p>This is the only time the key is shown. Store it in your integration’s secret store.</p>
          <code className="secret" data-testid="new-api-key">
            {created}
          </code>
        </Modal>
      )}
    </div>
  );
}
