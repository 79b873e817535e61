import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { sleep } from '../write/retry.ts';
import { contactIdentity } from './seed.ts';
import type { RunningServer } from './server.ts';

export interface BulkResult {
  name: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  megabytes: number;
  /** Server resident memory during the run: first sample, peak, last sample (MB). */
  rssMb: { start: number; peak: number; end: number };
  detail: Record<string, unknown>;
}

function sampleRss(server: RunningServer): { stop: () => { start: number; peak: number; end: number } } {
  const samples: number[] = [];
  const take = () => {
    const v = server.rss();
    if (v !== null) samples.push(v / 1024 / 1024);
  };
  take();
  const timer = setInterval(take, 100);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      const r = (n: number) => Math.round(n);
      return { start: r(samples[0] ?? 0), peak: r(Math.max(...samples)), end: r(samples[samples.length - 1] ?? 0) };
    },
  };
}

/**
 * Upsert by email of `rows` contacts: the first `updateShare` of them are existing
 * (seeded) contacts with a new title, the rest are new. The CSV is generated while it
 * uploads, so the client holds no file either.
 */
export async function importBenchmark(
  server: RunningServer,
  token: string,
  opts: {
    rows: number;
    existing: number;
    updateShare: number;
    runId: string;
    /** Audit entries committed but not linked into the chain yet (the import is reported done when its job is; linking follows). */
    pendingAudit?: () => Promise<number>;
  },
): Promise<BulkResult> {
  const updates = Math.min(opts.existing, Math.round(opts.rows * opts.updateShare));
  let bytes = 0;
  function* csv(): Generator<Buffer> {
    let chunk = 'email,firstName,lastName,title,phone\n';
    for (let i = 0; i < opts.rows; i++) {
      if (i < updates) {
        const p = contactIdentity(0, i);
        chunk += `${p.email},${p.first},${p.last},imported ${opts.runId},\n`;
      } else {
        chunk += `new.${opts.runId}.${i}@import.example,New,Person ${i},buyer,+1 555 ${i % 10_000}\n`;
      }
      if (chunk.length > 256 * 1024) {
        bytes += chunk.length;
        yield Buffer.from(chunk);
        chunk = '';
      }
    }
    bytes += chunk.length;
    yield Buffer.from(chunk);
  }
  const rss = sampleRss(server);
  const t0 = performance.now();
  const res = await request(`${server.url}/api/v1/contacts/import?upsertBy=email`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv', 'idempotency-key': `bench-import-${opts.runId}` },
    body: Readable.from(csv()),
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const job = (await res.body.json()) as Record<string, unknown>;
  const seconds = (performance.now() - t0) / 1000;
  if (res.statusCode !== 201) throw new Error(`import failed: ${res.statusCode} ${JSON.stringify(job).slice(0, 500)}`);
  const { errors: _errors, mapping: _mapping, ...counts } = job;
  if (opts.pendingAudit) {
    // How long the background sealer took to link the import's audit entries after the job finished.
    const pendingAtEnd = await opts.pendingAudit();
    for (let left = pendingAtEnd; left > 0; left = await opts.pendingAudit()) await sleep(250);
    counts.auditPendingAtEnd = pendingAtEnd;
    counts.auditLinkedSecondsAfterEnd = Number(((performance.now() - t0) / 1000 - seconds).toFixed(1));
  }
  return {
    name: `import ${opts.rows.toLocaleString('en')} contacts (upsert by email, ${updates.toLocaleString('en')} updates)`,
    rows: opts.rows,
    seconds,
    rowsPerSecond: opts.rows / seconds,
    megabytes: bytes / 1024 / 1024,
    rssMb: rss.stop(),
    detail: counts,
  };
}

export async function exportBenchmark(server: RunningServer, token: string, format: 'csv' | 'ndjson'): Promise<BulkResult> {
  const rss = sampleRss(server);
  const t0 = performance.now();
  const res = await request(`${server.url}/api/v1/contacts/export?format=${format}`, {
    headers: { authorization: `Bearer ${token}` },
    bodyTimeout: 0,
  });
  if (res.statusCode !== 200) throw new Error(`export failed: ${res.statusCode} ${(await res.body.text()).slice(0, 300)}`);
  let bytes = 0;
  let lines = 0;
  await pipeline(
    res.body,
    new Writable({
      write(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
        done();
      },
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const rows = format === 'csv' ? lines - 1 : lines;
  return {
    name: `export all contacts of one organization (${format})`,
    rows,
    seconds,
    rowsPerSecond: rows / seconds,
    megabytes: bytes / 1024 / 1024,
    rssMb: rss.stop(),
    detail: {},
  };
}
