import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, sealAudit } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

function importCsv(object: string, csv: string | Buffer, query = '', headers: Record<string, string> = {}, token = t.org.token) {
  return t.request('POST', `/api/v1/${object}/import${query}`, { token, raw: csv, contentType: 'text/csv', headers });
}

async function contactsByEmail(email: string) {
  const res = await t.request('GET', `/api/v1/contacts?filter[email]=${encodeURIComponent(email)}`, { token: t.org.token });
  return res.body.data as Record<string, unknown>[];
}

describe('import: insert', () => {
  it('inserts valid rows, rejects bad ones with row-level errors, and reports the job', async () => {
    const csv = [
      'firstName,lastName,email,title',
      'Ada,Lovelace,ada@example.com,Countess',
      'Bob,,bob@example.com,Builder',
      'Cy,Young,not-an-email,Pitcher',
      'Dee,Dee,dee@example.com,"Says ""hi"", twice"',
    ].join('\r\n');
    const res = await importCsv('contacts', csv);
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('location')).toBe(`/api/v1/imports/${res.body.id}`);
    expect(res.body).toMatchObject({ status: 'completed', mode: 'insert', rowsRead: 4, rowsInserted: 2, rowsRejected: 2, errorsTruncated: false });
    expect(res.body.errors).toEqual([
      expect.objectContaining({ row: 3, line: 3, field: 'lastName', message: expect.stringContaining('required') }),
      expect.objectContaining({ row: 4, line: 4, field: 'email', message: expect.stringContaining('email') }),
    ]);
    const job = await t.request('GET', `/api/v1/imports/${res.body.id}`, { token: t.org.token });
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({ id: res.body.id, rowsInserted: 2, rowsRejected: 2 });
    const [dee] = await contactsByEmail('dee@example.com');
    expect(dee).toMatchObject({ firstName: 'Dee', title: 'Says "hi", twice', version: 1, ownerId: t.org.adminId });
  });

  it('maps columns explicitly, by label, and ignores columns mapped to nothing', async () => {
    const csv = 'Given,Last name,E-mail,Notes\nGrace,Hopper,grace@example.com,ignored\n';
    const res = await importCsv('contacts', csv, `?map[Given]=firstName&map[E-mail]=email&map[Notes]=`);
    expect(res.status, res.text).toBe(201);
    expect(res.body.mapping).toEqual({ Given: 'firstName', 'Last name': 'lastName', 'E-mail': 'email', Notes: null });
    expect((await contactsByEmail('grace@example.com'))[0]).toMatchObject({ firstName: 'Grace', lastName: 'Hopper' });
  });

  it('refuses a header that does not fit the object, before creating anything', async () => {
    const unknown = await importCsv('contacts', 'lastName,shoeSize\nX,42\n');
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe('validation_failed');
    expect(unknown.body.detail).toContain('shoeSize');
    const badTarget = await importCsv('contacts', 'lastName,x\nX,1\n', '?map[x]=nope');
    expect(badTarget.status).toBe(400);
    const readOnly = await importCsv('contacts', 'lastName,v\nX,1\n', '?map[v]=version');
    expect(readOnly.status).toBe(400);
    const noKey = await importCsv('contacts', 'lastName\nX\n', '?upsertBy=email');
    expect(noKey.status).toBe(400);
    expect(noKey.body.errors[0].path).toBe('upsertBy');
    const badKey = await importCsv('opportunities', 'name,domain\nX,y\n', '?upsertBy=domain');
    expect(badKey.status).toBe(400);
    const badParam = await importCsv('contacts', 'lastName\nX\n', '?bogus=1');
    expect(badParam.status).toBe(400);
    const unknownObject = await importCsv('widgets', 'name\nX\n');
    expect(unknownObject.status).toBe(404);
  });

  it('applies object defaults and validates picklists and numbers like the JSON API', async () => {
    const csv = 'name,amount,stage,probability,closeDate\nBig deal,1250.5,,40,2026-03-31\nBad stage,1,nowhere,1,\nBad number,x,,,\n';
    const res = await importCsv('opportunities', csv);
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ rowsInserted: 1, rowsRejected: 2 });
    const list = await t.request('GET', '/api/v1/opportunities?filter[name]=Big%20deal', { token: t.org.token });
    expect(list.body.data[0]).toMatchObject({ amount: '1250.50', stage: 'prospecting', probability: 40, closeDate: '2026-03-31' });
  });

  it('rejects references to records that do not exist, per row', async () => {
    const acct = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: 'Ref Co' } });
    const csv = `lastName,accountId\nRef1,${acct.body.id}\nRef2,0190f0f0-0000-7000-8000-000000000000\n`;
    const res = await importCsv('contacts', csv);
    expect(res.body).toMatchObject({ rowsInserted: 1, rowsRejected: 1 });
    expect(res.body.errors[0]).toMatchObject({ row: 3, field: 'accountId' });
  });

  it('is refused to roles that may not create the object', async () => {
    const ro = await t.createUser(t.org.orgId, 'readonly');
    const res = await importCsv('contacts', 'lastName\nX\n', '', {}, ro.token);
    expect(res.status).toBe(403);
    const agent = await t.createUser(t.org.orgId, 'agent');
    const leads = await importCsv('leads', 'lastName\nX\n', '', {}, agent.token);
    expect(leads.status).toBe(403);
  });
});

describe('import: upsert', () => {
  it('updates the record the key names, inserts the rest, and counts unchanged rows', async () => {
    const existing = await t.request('POST', '/api/v1/contacts', {
      token: t.org.token,
      body: { firstName: 'Old', lastName: 'Name', email: 'Upsert.Me@Example.com', phone: '+1 555 0100' },
    });
    await t.request('POST', '/api/v1/contacts', { token: t.org.token, body: { lastName: 'Same', email: 'same@example.com' } });
    const csv = [
      'email,firstName,lastName,phone',
      'upsert.me@example.com,New,Name,',
      'fresh@example.com,Fresh,Person,',
      'same@example.com,,Same,',
    ].join('\n');
    const res = await importCsv('contacts', csv, '?upsertBy=email');
    expect(res.status, res.text).toBe(201);
    expect(res.body.errors).toEqual([]);
    expect(res.body).toMatchObject({ mode: 'upsert', upsertBy: 'email', rowsInserted: 1, rowsUpdated: 1, rowsUnchanged: 1, rowsRejected: 0 });
    const got = await t.request('GET', `/api/v1/contacts/${existing.body.id}`, { token: t.org.token });
    // Empty cells leave stored values alone; the key matched ignoring case.
    expect(got.body).toMatchObject({ firstName: 'New', phone: '+1 555 0100', email: 'upsert.me@example.com', version: 2 });
    const history = await t.request('GET', `/api/v1/contacts/${existing.body.id}/history`, { token: t.org.token });
    expect(history.body.data.map((h: { field: string }) => h.field)).toContain('firstName');
  });

  it('applies rows in file order: a key seen twice updates what the first row created', async () => {
    const csv = 'externalId,name,industry\nX-1,First,banking\nX-2,Other,\nX-1,Second,retail\n';
    const res = await importCsv('accounts', csv, '?upsertBy=externalId');
    expect(res.body).toMatchObject({ rowsInserted: 2, rowsUpdated: 1, batches: 2 });
    const list = await t.request('GET', '/api/v1/accounts?filter[externalId]=X-1', { token: t.org.token });
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ name: 'Second', industry: 'retail', version: 2 });
  });

  it('rejects a row whose key matches several records, and a row without a key', async () => {
    for (const n of ['A', 'B']) await t.request('POST', '/api/v1/leads', { token: t.org.token, body: { lastName: n, email: 'twin@example.com' } });
    const res = await importCsv('leads', 'email,lastName\ntwin@example.com,C\n,D\n', '?upsertBy=email');
    expect(res.body).toMatchObject({ rowsInserted: 0, rowsUpdated: 0, rowsRejected: 2 });
    expect(res.body.errors.map((e: { message: string }) => e.message).join(' ')).toMatch(/matches 2 existing leads.*is empty/);
  });

  it('matches only records the importer may see: not another tenant’s, not a private record of a colleague', async () => {
    const other = await t.createOrg('Other Tenant');
    const theirs = await t.request('POST', '/api/v1/contacts', { token: other.token, body: { lastName: 'Theirs', email: 'tenant.key@example.com' } });
    const hidden = await t.request('POST', '/api/v1/contacts', { token: t.org.token, body: { lastName: 'Hidden', email: 'hidden.key@example.com' } });
    const rep = await t.createUser(t.org.orgId, 'rep');
    await t.admin.query("UPDATE organizations SET sharing_default = 'private' WHERE id = $1", [t.org.orgId]);
    try {
      const csv = 'email,lastName\ntenant.key@example.com,Mine\nhidden.key@example.com,Mine too\n';
      const res = await importCsv('contacts', csv, '?upsertBy=email', {}, rep.token);
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({ rowsInserted: 2, rowsUpdated: 0, rowsRejected: 0 });
    } finally {
      await t.admin.query("UPDATE organizations SET sharing_default = 'public_read' WHERE id = $1", [t.org.orgId]);
    }
    const untouched = await t.admin.query<{ last_name: string; version: number }>(
      'SELECT last_name, version FROM contacts WHERE id = ANY($1::uuid[]) ORDER BY last_name',
      [[theirs.body.id, hidden.body.id]],
    );
    expect(untouched.rows).toEqual([
      { last_name: 'Hidden', version: 1 },
      { last_name: 'Theirs', version: 1 },
    ]);
  });

  it('upserts accounts by domain', async () => {
    await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: 'Dom', domain: 'dom.example' } });
    const res = await importCsv('accounts', 'domain,name,employees\nDOM.example,Dom Inc,12\n', '?upsertBy=domain');
    expect(res.body).toMatchObject({ rowsUpdated: 1, rowsInserted: 0 });
    const list = await t.request('GET', '/api/v1/accounts?filter[domain][startsWith]=dom.', { token: t.org.token });
    expect(list.body.data[0]).toMatchObject({ name: 'Dom Inc', employees: 12 });
  });
});

describe('import: ledger, events and idempotency', () => {
  it('audits every imported record with the import id, keeps the chain valid, and emits batch events', async () => {
    const csv = ['externalId,lastName', ...Array.from({ length: 30 }, (_, i) => `AUD-${i},Audited ${i}`)].join('\n');
    const res = await importCsv('contacts', csv, '?upsertBy=externalId');
    expect(res.body.rowsInserted).toBe(30);
    await sealAudit(t.admin);
    const audit = await t.admin.query(
      "SELECT record_id, action, context FROM audit_log WHERE organization_id = $1 AND context->>'importId' = $2 ORDER BY seq",
      [t.org.orgId, res.body.id],
    );
    expect(audit.rowCount).toBe(30);
    expect(audit.rows[0].action).toBe('create');
    expect(audit.rows[0].context).toMatchObject({ importId: res.body.id, row: 2, version: 1 });
    const again = await importCsv('contacts', csv.replace('Audited 0', 'Audited zero'), '?upsertBy=externalId');
    expect(again.body).toMatchObject({ rowsUpdated: 1, rowsUnchanged: 29 });
    await sealAudit(t.admin);
    const upd = await t.admin.query("SELECT action, changes FROM audit_log WHERE context->>'importId' = $1", [again.body.id]);
    expect(upd.rows).toEqual([{ action: 'update', changes: [{ field: 'lastName', old: 'Audited 0', new: 'Audited zero' }] }]);

    const verify = await t.request('GET', '/api/v1/audit/verify', { token: t.org.token });
    expect(verify.body.valid).toBe(true);
    const events = await t.admin.query('SELECT type, payload FROM outbox WHERE record_id = $1 ORDER BY seq', [res.body.id]);
    expect(events.rows.map((e) => e.type)).toEqual(['records.imported', 'import.completed']);
    expect(events.rows[0].payload.created).toHaveLength(30);
  });

  it('replays a finished import for the same key and file, and refuses the key for another file', async () => {
    const csv = 'lastName,email\nIdem,idem@example.com\n';
    const headers = { 'Idempotency-Key': 'import-idem-1' };
    const first = await importCsv('contacts', csv, '', headers);
    expect(first.status).toBe(201);
    const second = await importCsv('contacts', csv, '', headers);
    expect(second.status).toBe(200);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body.id).toBe(first.body.id);
    expect(await contactsByEmail('idem@example.com')).toHaveLength(1);
    const otherFile = await importCsv('contacts', 'lastName,email\nOther,other@example.com\n', '', headers);
    expect(otherFile.status).toBe(422);
    const otherOptions = await importCsv('contacts', csv, '?upsertBy=email', headers);
    expect(otherOptions.status).toBe(422);
    const listed = await t.request('GET', '/api/v1/imports?idempotencyKey=import-idem-1', { token: t.org.token });
    expect(listed.body.data.map((j: { id: string }) => j.id)).toEqual([first.body.id]);
  });

  it('resumes an interrupted import without applying committed batches twice', async () => {
    const rows = Array.from({ length: 2500 }, (_, i) => `Resume ${i},resume${i}@example.com`);
    const csv = ['lastName,email', ...rows].join('\n');
    const headers = { 'Idempotency-Key': 'import-resume-1' };
    const first = await importCsv('contacts', csv, '', headers);
    expect(first.body).toMatchObject({ rowsInserted: 2500, batches: 2 });
    // As if the node died before the job was marked finished.
    await t.admin.query("UPDATE imports SET status = 'failed' WHERE id = $1", [first.body.id]);
    const resumed = await importCsv('contacts', csv, '', headers);
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ id: first.body.id, status: 'completed', rowsInserted: 2500, rowsRead: 2500 });
    const n = await t.admin.query("SELECT count(*)::int AS n FROM contacts WHERE last_name LIKE 'Resume %'");
    expect(n.rows[0].n).toBe(2500);
  });

  it('shows a job only to its creator and to admins', async () => {
    const rep = await t.createUser(t.org.orgId, 'rep');
    const mine = await importCsv('contacts', 'lastName\nMine\n', '', {}, rep.token);
    expect(mine.status).toBe(201);
    const other = await t.createUser(t.org.orgId, 'rep');
    expect((await t.request('GET', `/api/v1/imports/${mine.body.id}`, { token: other.token })).status).toBe(404);
    expect((await t.request('GET', `/api/v1/imports/${mine.body.id}`, { token: t.org.token })).status).toBe(200);
    expect((await t.request('GET', '/api/v1/imports/not-a-uuid', { token: t.org.token })).status).toBe(404);
  });
});
