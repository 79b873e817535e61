import { randomUUID } from 'node:crypto';

/**
 * The load generator: virtual users that create leads, PATCH them with If-Match, convert
 * some, and list, all through the HTTP load balancer. Every write carries an
 * Idempotency-Key; a transport error, 502/503/504 or 409 "in progress" is retried with the
 * SAME key (what a careful client does), until the operation's deadline. Every
 * acknowledgement is recorded, so the database can be checked against it afterwards.
 */

export type OpKind = 'create' | 'patch' | 'convert' | 'list';

export interface OpRecord {
  kind: OpKind;
  vu: number;
  start: number;
  end: number;
  /** Final HTTP status (0: transport error). */
  status: number;
  ok: boolean;
  attempts: number;
  /** Failed attempts the client saw before the final answer (each a client-visible error to a client without retries). */
  failedAttempts: { at: number; status: number; detail: string }[];
  key?: string;
  /** A 4xx answer: the load only sends valid requests, so any is a finding (reported, not an availability error). */
  unexpected?: string;
}

export interface AckedCreate {
  marker: string;
  id: string;
  at: number;
}
export interface AckedPatch {
  id: string;
  version: number;
  firstName: string;
  at: number;
}
export interface AckedConvert {
  leadId: string;
  accountId: string;
  marker: string;
  at: number;
}

interface Lead {
  id: string;
  version: number;
  marker: string;
  /** The last write attempted on this lead did not get an answer: its outcome is unknown. */
  uncertain: boolean;
  converted: boolean;
}

export interface LoadOptions {
  baseUrl: string;
  token: string;
  runId: string;
  users: number;
  /** Pause between a user's operations. */
  thinkMs: number;
  /** How long one operation may keep retrying. */
  opDeadlineMs: number;
}

export class LoadGenerator {
  readonly ops: OpRecord[] = [];
  readonly creates: AckedCreate[] = [];
  readonly patches: AckedPatch[] = [];
  readonly converts: AckedConvert[] = [];
  /** Writes that never got an answer (their effect may or may not exist: never counted as lost). */
  readonly unanswered: { kind: OpKind; marker?: string; id?: string }[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private seq = 0;
  private readonly opts: LoadOptions;
  private readonly leads: Lead[][] = [];

  constructor(opts: LoadOptions) {
    this.opts = opts;
  }

  start(): void {
    this.running = true;
    for (let vu = 0; vu < this.opts.users; vu++) {
      this.leads[vu] = [];
      this.loops.push(this.user(vu));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  private async user(vu: number): Promise<void> {
    // Spread the users' first requests.
    await sleep(vu * 37);
    while (this.running) {
      const mine = this.leads[vu].filter((l) => !l.uncertain && !l.converted);
      const r = Math.random();
      if (mine.length < 3 || r < 0.35) await this.create(vu);
      else if (r < 0.65) await this.patch(vu, mine[Math.floor(Math.random() * mine.length)]);
      else if (r < 0.75) await this.convert(vu, mine[Math.floor(Math.random() * mine.length)]);
      else await this.list(vu);
      if (this.opts.thinkMs > 0) await sleep(this.opts.thinkMs);
    }
  }

  private async create(vu: number): Promise<void> {
    const marker = `chaos-${this.opts.runId}-${vu}-${++this.seq}`;
    const body = { lastName: 'Chaos', firstName: 'c0', company: marker, email: `${marker}@chaos.test`, source: 'web' };
    const res = await this.call('create', vu, 'POST', '/api/v1/leads', body);
    if (res.ok && res.body && typeof res.body === 'object') {
      const b = res.body as { id: string; version: number };
      this.creates.push({ marker, id: b.id, at: Date.now() });
      this.leads[vu].push({ id: b.id, version: b.version, marker, uncertain: false, converted: false });
    } else if (res.status === 0 || res.status >= 500) this.unanswered.push({ kind: 'create', marker });
  }

  private async patch(vu: number, lead: Lead): Promise<void> {
    const firstName = `p${++this.seq}`;
    const res = await this.call('patch', vu, 'PATCH', `/api/v1/leads/${lead.id}`, { firstName }, { 'If-Match': `"${lead.version}"` });
    if (res.ok && res.body && typeof res.body === 'object') {
      const b = res.body as { version: number; firstName: string };
      lead.version = b.version;
      this.patches.push({ id: lead.id, version: b.version, firstName, at: Date.now() });
    } else if (res.status === 0 || res.status >= 500) {
      lead.uncertain = true;
      this.unanswered.push({ kind: 'patch', id: lead.id });
    }
  }

  private async convert(vu: number, lead: Lead): Promise<void> {
    const res = await this.call('convert', vu, 'POST', `/api/v1/leads/${lead.id}/convert`, { createOpportunity: false });
    if (res.ok && res.body && typeof res.body === 'object') {
      lead.converted = true;
      this.converts.push({ leadId: lead.id, accountId: (res.body as { accountId: string }).accountId, marker: lead.marker, at: Date.now() });
    } else if (res.status === 0 || res.status >= 500) {
      lead.uncertain = true;
      this.unanswered.push({ kind: 'convert', id: lead.id });
    }
  }

  private async list(vu: number): Promise<void> {
    await this.call('list', vu, 'GET', '/api/v1/leads?limit=20&sort=-createdAt');
  }

  /** One operation: attempts with the same Idempotency-Key until an answer or the deadline. */
  private async call(
    kind: OpKind,
    vu: number,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ ok: boolean; status: number; body: unknown }> {
    const key = method === 'GET' ? undefined : randomUUID();
    const start = Date.now();
    const deadline = start + this.opts.opDeadlineMs;
    const rec: OpRecord = { kind, vu, start, end: start, status: 0, ok: false, attempts: 0, failedAttempts: [], key };
    let out: { ok: boolean; status: number; body: unknown } = { ok: false, status: 0, body: undefined };
    for (;;) {
      rec.attempts++;
      let status = 0;
      let parsed: unknown;
      let detail = '';
      try {
        const res = await fetch(this.opts.baseUrl + path, {
          method,
          headers: {
            authorization: `Bearer ${this.opts.token}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(key ? { 'idempotency-key': key } : {}),
            ...headers,
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(Math.max(1000, deadline - Date.now())),
        });
        status = res.status;
        const text = await res.text();
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
        detail = status >= 400 ? `${(parsed as { code?: string })?.code ?? ''} ${text.slice(0, 160)}` : '';
      } catch (err) {
        detail = err instanceof Error ? `${err.name}: ${(err as { cause?: { code?: string } }).cause?.code ?? err.message}` : String(err);
      }
      const retryable = status === 0 || status === 502 || status === 503 || status === 504 || (status === 409 && /in_progress/.test(detail));
      if (!retryable || Date.now() >= deadline || !this.running) {
        out = { ok: status >= 200 && status < 300, status, body: parsed };
        if (!out.ok && (status === 0 || status >= 500)) rec.failedAttempts.push({ at: Date.now(), status, detail });
        else if (!out.ok) rec.unexpected = `${status} ${detail}`;
        break;
      }
      rec.failedAttempts.push({ at: Date.now(), status, detail });
      await sleep(Math.min(1000, 100 * 2 ** Math.min(rec.attempts - 1, 4)));
    }
    rec.end = Date.now();
    rec.status = out.status;
    rec.ok = out.ok;
    this.ops.push(rec);
    return out;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function login(baseUrl: string, email: string, password: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { accessToken: string }).accessToken;
}
