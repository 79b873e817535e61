import client from 'prom-client';
import type { Config } from '../config/config.ts';
import type { Pool } from '../db/pool.ts';
import { DeliveryWorker, webhookConsumer } from '../webhooks/delivery-worker.ts';
import { EventBus } from './bus.ts';
import { Doorbell } from './doorbell.ts';
import { JetStreamTarget } from './jetstream.ts';
import { type EventTarget, OutboxRelay, type RelayLog } from './relay.ts';

/** What request handling and the background loops of one process share: wake-ups and the bus. */
export interface EventHub {
  bus: EventBus;
  /** Rung after each commit that wrote events (a hint; the relay also polls). */
  relayDoorbell: Doorbell;
  /** Rung when deliveries were enqueued or replayed. */
  deliveryDoorbell: Doorbell;
  /** Rung after each commit that wrote audit entries (a hint; the audit sealer also polls). */
  sealDoorbell: Doorbell;
}

export function createEventHub(): EventHub {
  return { bus: new EventBus(), relayDoorbell: new Doorbell(), deliveryDoorbell: new Doorbell(), sealDoorbell: new Doorbell() };
}

export interface EventPipeline {
  relay: OutboxRelay;
  deliveries: DeliveryWorker;
  stop(): Promise<void>;
}

/**
 * The outbox relay (to JetStream when BASALT_NATS_URL is set, and always to the in-process
 * bus) and the webhook delivery worker, running in this process until stop().
 */
export function startEventPipeline(deps: {
  config: Config;
  pool: Pool;
  hub: EventHub;
  log?: RelayLog;
  /** Where to expose outbox backlog and publish counts (GET /metrics). */
  metrics?: client.Registry;
}): EventPipeline {
  const { config, pool, hub, log } = deps;
  const published = deps.metrics ? registerEventMetrics(deps.metrics, pool) : undefined;
  const jetstream = config.natsUrl
    ? new JetStreamTarget({
        servers: config.natsUrl,
        stream: config.natsStream,
        subjectPrefix: config.natsSubjectPrefix,
        replicas: config.natsStreamReplicas,
        duplicateWindowMs: config.natsDuplicateWindowSeconds * 1000,
        log,
      })
    : undefined;
  const targets: EventTarget[] = [
    ...(jetstream ? [jetstream] : []),
    { name: 'in-process', publish: (e) => hub.bus.publish(e) },
  ];
  const relay = new OutboxRelay({
    pool,
    targets,
    consumers: [webhookConsumer(hub.deliveryDoorbell)],
    batchSize: config.outboxBatchSize,
    pollMs: config.outboxPollMs,
    doorbell: hub.relayDoorbell,
    log,
    onBatch: (events) => published?.inc(events.length),
  }).start();
  const deliveries = new DeliveryWorker({
    pool,
    timeoutMs: config.webhookTimeoutMs,
    maxRetries: config.webhookMaxRetries,
    retryBaseMs: config.webhookRetryBaseMs,
    concurrency: config.webhookConcurrency,
    endpointConcurrency: config.webhookEndpointConcurrency,
    breakerThreshold: config.webhookBreakerThreshold,
    breakerCooldownMs: config.webhookBreakerCooldownMs,
    pollMs: config.outboxPollMs,
    doorbell: hub.deliveryDoorbell,
    log,
  }).start();
  return {
    relay,
    deliveries,
    async stop() {
      await Promise.all([relay.stop(), deliveries.stop()]);
      await jetstream?.close();
    },
  };
}

function registerEventMetrics(registry: client.Registry, pool: Pool): client.Counter {
  new client.Gauge({
    name: 'basalt_outbox_backlog_events',
    help: 'Outbox events not yet published (all tenants)',
    registers: [registry],
    async collect() {
      const r = await pool.query<{ events: string }>('SELECT events FROM basalt_outbox_backlog()').catch(() => undefined);
      if (r) this.set(Number(r.rows[0].events));
    },
  });
  new client.Gauge({
    name: 'basalt_outbox_oldest_unpublished_seconds',
    help: 'Age of the oldest unpublished outbox event (0 when none)',
    registers: [registry],
    async collect() {
      const r = await pool
        .query<{ age: number | null }>('SELECT extract(epoch FROM now() - oldest)::float8 AS age FROM basalt_outbox_backlog()')
        .catch(() => undefined);
      if (r) this.set(r.rows[0].age ?? 0);
    },
  });
  return new client.Counter({
    name: 'basalt_outbox_published_events_total',
    help: 'Outbox events published by this process',
    registers: [registry],
  });
}
