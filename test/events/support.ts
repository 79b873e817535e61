import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { Pool } from '../../src/db/pool.ts';
import type { TestApp } from '../support/harness.ts';

export const SHARED_NATS = process.env.BASALT_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Polls until check() returns a value other than undefined/false, or fails after the deadline. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/** A stream name and subject prefix of our own on a shared NATS server. */
export function uniqueStream(): { stream: string; subjectPrefix: string } {
  const tag = randomBytes(5).toString('hex');
  return { stream: `BASALT_TEST_${tag}`, subjectPrefix: `basalt_test_${tag}.events` };
}

export interface OutboxEvent {
  seq: number;
  id: string;
  organization_id: string;
  type: string;
  object: string;
  record_id: string;
  payload: unknown;
  request_id: string;
  created_at: Date;
  published_at: Date | null;
}

export async function outboxEvents(t: TestApp): Promise<OutboxEvent[]> {
  const res = await t.admin.query<OutboxEvent>('SELECT * FROM outbox ORDER BY seq');
  return res.rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

export async function backlog(pool: Pool): Promise<number> {
  const res = await pool.query<{ events: string }>('SELECT events FROM basalt_outbox_backlog()');
  return Number(res.rows[0].events);
}

export interface StreamMessage {
  streamSeq: number;
  subject: string;
  msgId: string | undefined;
  body: Record<string, unknown>;
}

/** Every message of a stream, in stream order. */
export async function readStream(servers: string, stream: string): Promise<StreamMessage[]> {
  const nc = await connect({ servers });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const out: StreamMessage[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (!m) continue;
      out.push({ streamSeq: m.seq, subject: m.subject, msgId: m.header?.get('Nats-Msg-Id'), body: m.json<Record<string, unknown>>() });
    }
    return out;
  } finally {
    await nc.close();
  }
}

export async function deleteStream(servers: string, stream: string): Promise<void> {
  const nc = await connect({ servers }).catch(() => undefined);
  if (!nc) return;
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => {});
  } finally {
    await nc.close();
  }
}

/** Ids grouped by record, in the order given. */
export function byRecord<T>(items: T[], recordOf: (x: T) => string, idOf: (x: T) => string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const x of items) {
    const list = out.get(recordOf(x)) ?? [];
    list.push(idOf(x));
    out.set(recordOf(x), list);
  }
  return out;
}

/** Writes that produce several events per record: create, two updates, some deletes. */
export async function churn(t: TestApp, records: number, tag = 'acct'): Promise<string[]> {
  const ids: string[] = [];
  await Promise.all(
    Array.from({ length: records }, async (_, i) => {
      const c = await t.request('POST', '/api/v1/accounts', { token: t.org.token, body: { name: `${tag}-${i}` } });
      if (c.status !== 201) throw new Error(`create failed: ${c.status} ${c.text}`);
      ids.push(c.body.id);
      for (let v = 1; v <= 2; v++) {
        const p = await t.request('PATCH', `/api/v1/accounts/${c.body.id}`, {
          token: t.org.token,
          body: { phone: `+1 555 000 ${v}` },
          headers: { 'if-match': `"${v}"` },
        });
        if (p.status !== 200) throw new Error(`patch failed: ${p.status} ${p.text}`);
      }
      if (i % 3 === 0) {
        const d = await t.request('DELETE', `/api/v1/accounts/${c.body.id}`, { token: t.org.token, headers: { 'if-match': '"3"' } });
        if (d.status !== 204) throw new Error(`delete failed: ${d.status} ${d.text}`);
      }
    }),
  );
  return ids;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** A nats-server of our own (JetStream, file store in a temp dir), so restarts disturb no one. */
export class OwnNatsServer {
  readonly port: number;
  readonly storeDir: string;
  private proc: ChildProcess | undefined;

  private constructor(port: number, storeDir: string) {
    this.port = port;
    this.storeDir = storeDir;
  }

  static async start(): Promise<OwnNatsServer> {
    const server = new OwnNatsServer(await freePort(), await mkdtemp(path.join(tmpdir(), 'basalt-nats-')));
    await server.restart();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    const bin = process.env.BASALT_TEST_NATS_SERVER ?? '/usr/sbin/nats-server';
    this.proc = spawn(bin, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: 'ignore' });
    await waitFor(`nats-server on ${this.port}`, async () => {
      const nc = await connect({ servers: this.url, timeout: 500 }).catch(() => undefined);
      if (!nc) return false;
      try {
        await jetstreamManager(nc);
        return true;
      } finally {
        await nc.close();
      }
    });
  }

  /** SIGKILL: no graceful shutdown, as when the machine's process dies. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
    this.proc = undefined;
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}
