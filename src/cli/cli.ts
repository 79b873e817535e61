import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { request } from 'undici';

/**
 * `npm run cli -- import contacts file.csv [--upsert-by email] [--map "E-mail=email"]`
 * `npm run cli -- export contacts [--format ndjson] [--filter "title=CEO"] [--sort -createdAt] [--out file]`
 * Connection: --url (BASALT_URL, default http://127.0.0.1:3000) and --token (BASALT_TOKEN),
 * or --email/--password (BASALT_EMAIL/BASALT_PASSWORD) to sign in.
 */

const USAGE = `usage:
  cli import <object> <file.csv> [--upsert-by externalId|email|domain] [--map column=field ...] [--idempotency-key K]
  cli export <object> [--format csv|ndjson] [--filter field=value | field[op]=value ...] [--sort -field,field] [--fields a,b] [--out file]
options: --url URL (BASALT_URL)  --token T (BASALT_TOKEN)  --email E --password P (BASALT_EMAIL, BASALT_PASSWORD)`;

export class CliError extends Error {}

interface Conn {
  url: string;
  token: string;
}

export async function main(argv: string[], out: Writable = process.stdout, err: Writable = process.stderr): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      'upsert-by': { type: 'string' },
      map: { type: 'string', multiple: true },
      'idempotency-key': { type: 'string' },
      format: { type: 'string' },
      filter: { type: 'string', multiple: true },
      sort: { type: 'string' },
      fields: { type: 'string' },
      out: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, object, file] = positionals;
  if (values.help || !command || !object) {
    err.write(`${USAGE}\n`);
    return values.help ? 0 : 64;
  }
  const conn = await connect(values.url ?? process.env.BASALT_URL ?? 'http://127.0.0.1:3000', values);
  const progress = values.quiet ? () => {} : (line: string) => err.write(`\r\x1b[2K${line}`);

  if (command === 'import') {
    if (!file) throw new CliError('name the CSV file to import');
    const query = new URLSearchParams();
    if (values['upsert-by']) query.set('upsertBy', values['upsert-by']);
    for (const m of values.map ?? []) {
      const at = m.indexOf('=');
      if (at < 1) throw new CliError(`--map wants column=field (or column= to ignore), got "${m}"`);
      query.set(`map[${m.slice(0, at)}]`, m.slice(at + 1));
    }
    const key = values['idempotency-key'] ?? `cli-${randomUUID()}`;
    const job = await importFile(conn, object, file, query, key, progress);
    if (!values.quiet) err.write('\n');
    out.write(`${JSON.stringify(job, null, 2)}\n`);
    const failed = job.status !== 'completed';
    if (failed) err.write(`import ${job.status}; resume with --idempotency-key ${key}\n`);
    return failed ? 1 : 0;
  }
  if (command === 'export') {
    const query = new URLSearchParams();
    if (values.format) query.set('format', values.format);
    if (values.sort) query.set('sort', values.sort);
    if (values.fields) query.set('fields', values.fields);
    for (const f of values.filter ?? []) {
      const at = f.indexOf('=');
      if (at < 1) throw new CliError(`--filter wants field=value or field[op]=value, got "${f}"`);
      const lhs = f.slice(0, at);
      const m = /^([^[\]]+)(\[[^\]]+\])?$/.exec(lhs);
      if (!m) throw new CliError(`--filter: cannot read "${lhs}"`);
      query.set(`filter[${m[1]}]${m[2] ?? ''}`, f.slice(at + 1));
    }
    const sink = values.out ? createWriteStream(values.out) : out;
    const { bytes, rows, ms } = await exportTo(conn, object, query, sink, progress);
    if (!values.quiet) err.write(`\r\x1b[2Kexported ${rows} rows (${mb(bytes)}) in ${(ms / 1000).toFixed(1)} s\n`);
    return 0;
  }
  throw new CliError(`unknown command "${command}"\n${USAGE}`);
}

async function connect(url: string, v: { token?: string; email?: string; password?: string }): Promise<Conn> {
  const base = url.replace(/\/+$/, '');
  const token = v.token ?? process.env.BASALT_TOKEN;
  if (token) return { url: base, token };
  const email = v.email ?? process.env.BASALT_EMAIL;
  const password = v.password ?? process.env.BASALT_PASSWORD;
  if (!email || !password) throw new CliError('give --token (or BASALT_TOKEN), or --email and --password');
  const res = await request(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const body = (await res.body.json()) as { accessToken?: string; detail?: string };
  if (res.statusCode !== 200 || !body.accessToken) throw new CliError(`sign-in failed: ${body.detail ?? res.statusCode}`);
  return { url: base, token: body.accessToken };
}

interface Job {
  id: string;
  status: string;
  rowsRead: number;
  rowsInserted: number;
  rowsUpdated: number;
  rowsRejected: number;
  [k: string]: unknown;
}

export async function importFile(
  conn: Conn,
  object: string,
  file: string,
  query: URLSearchParams,
  key: string,
  progress: (line: string) => void,
): Promise<Job> {
  const size = (await stat(file)).size;
  let sent = 0;
  let job: Job | undefined;
  const started = Date.now();
  const draw = () => {
    const frac = size ? sent / size : 1;
    const width = 30;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const rows = job ? ` ${job.rowsRead} rows (${job.rowsInserted} new, ${job.rowsUpdated} updated, ${job.rowsRejected} rejected)` : '';
    const secs = (Date.now() - started) / 1000;
    progress(`[${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${mb(sent)}/${mb(size)}${rows} ${secs.toFixed(0)} s`);
  };
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      done(null, chunk);
    },
  });
  // Rows committed so far come from the job, found by its Idempotency-Key while the upload runs.
  const poll = setInterval(() => {
    void request(`${conn.url}/api/v1/imports?idempotencyKey=${encodeURIComponent(key)}&limit=1`, {
      headers: { authorization: `Bearer ${conn.token}` },
    })
      .then(async (r) => {
        const b = (await r.body.json()) as { data?: Job[] };
        if (b.data?.[0]) job = b.data[0];
        draw();
      })
      .catch(() => {});
  }, 500);
  try {
    const res = await request(`${conn.url}/api/v1/${encodeURIComponent(object)}/import?${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${conn.token}`, 'content-type': 'text/csv', 'idempotency-key': key },
      body: createReadStream(file, { highWaterMark: 256 * 1024 }).pipe(counter),
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    const body = (await res.body.json()) as Job & { detail?: string };
    if (res.statusCode >= 400) throw new CliError(`import refused (${res.statusCode}): ${body.detail ?? JSON.stringify(body)}`);
    job = body;
    draw();
    return body;
  } finally {
    clearInterval(poll);
  }
}

export async function exportTo(
  conn: Conn,
  object: string,
  query: URLSearchParams,
  sink: Writable,
  progress: (line: string) => void,
): Promise<{ bytes: number; rows: number; ms: number }> {
  const started = Date.now();
  const res = await request(`${conn.url}/api/v1/${encodeURIComponent(object)}/export?${query}`, {
    headers: { authorization: `Bearer ${conn.token}` },
    bodyTimeout: 0,
  });
  if (res.statusCode >= 400) {
    const body = (await res.body.json()) as { detail?: string };
    throw new CliError(`export refused (${res.statusCode}): ${body.detail ?? res.statusCode}`);
  }
  let bytes = 0;
  let lines = 0;
  let last = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
      if (Date.now() - last > 250) {
        last = Date.now();
        progress(`exporting ${object}: ${lines} lines, ${mb(bytes)}`);
      }
      done(null, chunk);
    },
  });
  await pipeline(res.body, counter, sink, { end: sink !== process.stdout });
  const rows = query.get('format') === 'ndjson' ? lines : Math.max(0, lines - 1);
  return { bytes, rows, ms: Date.now() - started };
}

function mb(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${(n / 1024).toFixed(0)} kB`;
}
