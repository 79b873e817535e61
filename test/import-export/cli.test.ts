import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/cli.ts';
import { startTestApp, type TestApp } from '../support/harness.ts';

let t: TestApp;
let dir: string;
beforeAll(async () => {
  t = await startTestApp();
  dir = await mkdtemp(path.join(tmpdir(), 'basalt-cli-'));
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

function sink(): Writable & { text: () => string } {
  const parts: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, done) {
      parts.push(Buffer.from(chunk));
      done();
    },
  });
  return Object.assign(w, { text: () => Buffer.concat(parts).toString('utf8') });
}

describe('cli', () => {
  it('imports a file with upsert, then exports it as NDJSON to a file', async () => {
    const file = path.join(dir, 'leads.csv');
    await writeFile(file, 'Mail,lastName,company\ncli1@example.com,Cli One,Acme\ncli2@example.com,Cli Two,Beta\n');
    const out = sink();
    const code = await main(
      ['import', 'leads', file, '--upsert-by', 'email', '--map', 'Mail=email', '--url', t.url, '--token', t.org.token, '--quiet'],
      out,
      sink(),
    );
    expect(code).toBe(0);
    expect(JSON.parse(out.text())).toMatchObject({ status: 'completed', rowsInserted: 2 });

    const target = path.join(dir, 'leads.ndjson');
    const err = sink();
    const code2 = await main(
      ['export', 'leads', '--format', 'ndjson', '--filter', 'lastName[startsWith]=Cli', '--sort', 'lastName', '--out', target, '--url', t.url, '--token', t.org.token],
      sink(),
      err,
    );
    expect(code2).toBe(0);
    expect(err.text()).toContain('exported 2 rows');
    const lines = (await readFile(target, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.lastName)).toEqual(['Cli One', 'Cli Two']);
  });

  it('signs in with email and password and reports a refused import', async () => {
    const file = path.join(dir, 'bad.csv');
    await writeFile(file, 'shoeSize\n42\n');
    await expect(
      main(['import', 'contacts', file, '--url', t.url, '--email', t.org.email, '--password', t.org.password, '--quiet'], sink(), sink()),
    ).rejects.toThrow(/import refused \(400\).*shoeSize/);
  });
});
