import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t?.close());

function importCsv(csv: string | Buffer, query = '', contentType = 'text/csv') {
  return t.request('POST', `/api/v1/contacts/import${query}`, { token: t.org.token, raw: csv, contentType });
}

async function lastNames(prefix: string): Promise<string[]> {
  const res = await t.admin.query('SELECT last_name FROM contacts WHERE last_name LIKE $1 ORDER BY last_name', [`${prefix}%`]);
  return res.rows.map((r) => r.last_name);
}

describe('bad files get row-level errors, never a 500', () => {
  it('invalid UTF-8 in a row rejects that row only', async () => {
    const csv = Buffer.concat([
      Buffer.from('lastName,title\nUtf Good,ok\nUtf Bad,'),
      Buffer.from([0x63, 0x61, 0x66, 0xe9]), // "café" in Latin-1
      Buffer.from('\nUtf Also good,ok\n'),
    ]);
    const res = await importCsv(csv);
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ rowsInserted: 2, rowsRejected: 1 });
    expect(res.body.errors[0]).toMatchObject({ row: 3, message: expect.stringContaining('UTF-8') });
    expect(await lastNames('Utf')).toEqual(['Utf Also good', 'Utf Good']);
  });

  it('a file in another encoding is refused at the header, with a clear message', async () => {
    const utf16 = Buffer.from('\ufefflastName\nX\n', 'utf16le');
    const res = await importCsv(utf16);
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain('UTF-8');
    const latin1 = await importCsv('x', '', 'text/csv; charset=iso-8859-1');
    expect(latin1.status).toBe(415);
  });

  it('ragged rows (too few or too many fields) are rejected with the counts', async () => {
    const res = await importCsv('lastName,title\nRag ok,t\nRag short\nRag long,t,extra\n');
    expect(res.body).toMatchObject({ rowsInserted: 1, rowsRejected: 2 });
    expect(res.body.errors.map((e: { message: string }) => e.message)).toEqual([
      'has 1 fields but the header has 2',
      'has 3 fields but the header has 2',
    ]);
  });

  it('a huge field is rejected and reading goes on at the next line', async () => {
    const huge = 'x'.repeat(200_000);
    const res = await importCsv(`lastName,title\nHuge before,t\nHuge bad,${huge}\nHuge after,t\n`);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ rowsInserted: 2, rowsRejected: 1 });
    expect(res.body.errors[0]).toMatchObject({ row: 3, message: expect.stringContaining('longer than') });
    // A field within the reader's limit but over the field's own maximum is a validation error.
    const long = await importCsv(`lastName,title\nLong,${'y'.repeat(300)}\n`);
    expect(long.body.errors[0]).toMatchObject({ field: 'title', message: expect.stringContaining('at most 255') });
  });

  it('an unterminated quote rejects the rest of the file as one row, not the rows before it', async () => {
    const res = await importCsv('lastName,title\nQuote ok,t\nQuote bad,"never closed\nQuote lost,t\n');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ rowsInserted: 1, rowsRejected: 1 });
    expect(res.body.errors[0]).toMatchObject({ row: 3, line: 3, message: expect.stringContaining('never closed') });
  });

  it('characters after a closing quote are an error for that row', async () => {
    const res = await importCsv('lastName,title\nStray,"quoted"tail\nStray fine,"a ""b"" c"\n');
    expect(res.body).toMatchObject({ rowsInserted: 1, rowsRejected: 1 });
  });

  it('formula strings are refused; apostrophe-escaped text, phone numbers and negatives pass', async () => {
    const csv = [
      'lastName,title,phone',
      `Formula 1,"=cmd|' /C calc'!A0",`,
      'Formula 2,@SUM(A1:A9),',
      'Formula 3,+cmd|x,',
      'Formula 4,-2+3,',
      `Formula ok,'=not a formula,+1 (555) 010-0100`,
    ].join('\n');
    const res = await importCsv(csv);
    expect(res.body).toMatchObject({ rowsInserted: 1, rowsRejected: 4 });
    for (const e of res.body.errors) expect(e).toMatchObject({ field: 'title', message: expect.stringContaining('formula') });
    const ok = await t.admin.query("SELECT title, phone FROM contacts WHERE last_name = 'Formula ok'");
    expect(ok.rows[0]).toEqual({ title: '=not a formula', phone: '+1 (555) 010-0100' });
  });

  it('blank lines, a BOM, CRLF and a missing final newline are fine', async () => {
    const res = await importCsv('\ufefflastName,title\r\n\r\nBom one,t\r\n\r\nBom two,t');
    expect(res.body).toMatchObject({ rowsRead: 2, rowsInserted: 2, rowsRejected: 0 });
  });

  it('an empty file or a wrong content type is a 4xx', async () => {
    expect((await importCsv('')).status).toBe(400);
    const headerOnly = await importCsv('lastName\n');
    expect(headerOnly.status).toBe(201);
    expect(headerOnly.body.rowsRead).toBe(0);
    const json = await t.request('POST', '/api/v1/contacts/import', { token: t.org.token, body: { lastName: 'x' } });
    expect(json.status).toBe(415);
    const noBody = await t.request('POST', '/api/v1/contacts/import', { token: t.org.token });
    expect(noBody.status).toBe(400);
    const dupHeader = await importCsv('lastName,lastName\na,b\n');
    expect(dupHeader.status).toBe(400);
  });

  it('keeps the first errors and counts them all', async () => {
    const rows = Array.from({ length: 1500 }, (_, i) => `Many ${i},not-an-email`);
    const res = await importCsv(['lastName,email', ...rows].join('\n'));
    expect(res.body).toMatchObject({ rowsRejected: 1500, errorsTruncated: true });
    expect(res.body.errors).toHaveLength(1000);
  });
});
