import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos } from '@nats-io/transport-node';
import type { EventTarget } from './relay.ts';
import { type DomainEvent, eventEnvelope, subjectFor } from './types.ts';

export interface JetStreamOptions {
  servers: string;
  stream: string;
  subjectPrefix: string;
  replicas: number;
  duplicateWindowMs: number;
  publishTimeoutMs?: number;
  log?: { warn: (obj: object, msg: string) => void; info: (obj: object, msg: string) => void };
}

/**
 * Publishes outbox events to a JetStream stream with `Nats-Msg-Id` = event id, so a retried
 * publish (lost ack, relay restart) is dropped by the server within the duplicate window.
 * Connects lazily and keeps reconnecting on its own; a failed publish is reported to the
 * relay, which backs off and retries, and makes the next publish re-check the stream.
 */
export class JetStreamTarget implements EventTarget {
  readonly name = 'jetstream';
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private connecting: Promise<JetStreamClient> | undefined;
  private streamReady = false;
  private closed = false;
  private readonly opts: JetStreamOptions;

  constructor(opts: JetStreamOptions) {
    this.opts = opts;
  }

  async publish(event: DomainEvent): Promise<void> {
    const js = await this.client();
    try {
      await js.publish(subjectFor(this.opts.subjectPrefix, event), JSON.stringify(eventEnvelope(event)), {
        msgID: event.id,
        timeout: this.opts.publishTimeoutMs ?? 5000,
      });
    } catch (err) {
      // The server may have lost the stream (restart with an empty store): re-ensure it next time.
      this.streamReady = false;
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const nc = this.nc;
    this.nc = undefined;
    this.js = undefined;
    if (nc) await nc.drain().catch(() => nc.close());
  }

  private async client(): Promise<JetStreamClient> {
    if (this.closed) throw new Error('JetStream target is closed');
    if (this.js && this.nc && !this.nc.isClosed()) {
      if (!this.streamReady) await this.ensureStream(await jetstreamManager(this.nc));
      return this.js;
    }
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<JetStreamClient> {
    const nc = await connect({
      servers: this.opts.servers.split(',').map((s) => s.trim()),
      name: 'basalt-outbox-relay',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      timeout: 5000,
    });
    if (this.closed) {
      await nc.close();
      throw new Error('JetStream target is closed');
    }
    this.nc = nc;
    this.opts.log?.info({ server: nc.getServer() }, 'connected to NATS');
    this.streamReady = false;
    await this.ensureStream(await jetstreamManager(nc));
    this.js = jetstream(nc);
    return this.js;
  }

  private async ensureStream(jsm: JetStreamManager): Promise<void> {
    const { stream, subjectPrefix, replicas, duplicateWindowMs } = this.opts;
    const config = { subjects: [`${subjectPrefix}.>`], num_replicas: replicas, duplicate_window: nanos(duplicateWindowMs) };
    try {
      await jsm.streams.info(stream);
      await jsm.streams.update(stream, config);
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
      await jsm.streams.add({ name: stream, ...config });
      this.opts.log?.info({ stream, replicas }, 'created JetStream stream');
    }
    this.streamReady = true;
  }
}

function isStreamNotFound(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return /stream not found/i.test(err.message) || code === 10059 || err.name === 'StreamNotFoundError';
}
