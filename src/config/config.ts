/**
 * One typed, documented declaration of every setting. From it come: validation at start
 * (bad config stops the server naming the variable), the typed Config object, and the
 * configuration table in the README (`npm run config:doc`).
 */

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`);
    this.variable = variable;
    this.name = 'ConfigError';
  }
}

interface Setting<T> {
  env: string;
  description: string;
  default: string | undefined;
  sensitive?: boolean;
  parse: (raw: string, env: string) => T;
}

const str = (raw: string) => raw;
const optionalStr = (raw: string) => (raw === '' ? undefined : raw);

function int(min: number, max: number) {
  return (raw: string, env: string): number => {
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(env, `must be an integer, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new ConfigError(env, `must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function bool(raw: string, env: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  throw new ConfigError(env, `must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(...values: T[]) {
  return (raw: string, env: string): T => {
    if ((values as string[]).includes(raw)) return raw as T;
    throw new ConfigError(env, `must be one of ${values.join(', ')}, got "${raw}"`);
  };
}

function postgresUrl(raw: string, env: string): string | undefined {
  if (raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(env, 'is not a valid URL (expected postgres://user:password@host:port/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(env, `must use the postgres:// scheme, got "${url.protocol}"`);
  }
  return raw;
}

function email(raw: string, env: string): string | undefined {
  if (raw === '') return undefined;
  if (!/^[^\s@]+@[^\s@]+$/.test(raw)) throw new ConfigError(env, `is not an email address: "${raw}"`);
  return raw;
}

function password(raw: string, env: string): string | undefined {
  if (raw === '') return undefined;
  if (raw.length < 8) throw new ConfigError(env, 'must be at least 8 characters long');
  return raw;
}

function natsUrl(raw: string, env: string): string | undefined {
  if (raw === '') return undefined;
  for (const part of raw.split(',')) {
    if (!/^(nats|tls):\/\/[^\s]+$/.test(part.trim()) && !/^[\w.-]+:\d+$/.test(part.trim())) {
      throw new ConfigError(env, `is not a NATS server list (nats://host:port[,...]), got "${raw}"`);
    }
  }
  return raw;
}

export const settings = {
  port: { env: 'PORT', description: 'HTTP port of the API and web UI.', default: '3000', parse: int(0, 65535) },
  host: {
    env: 'BASALT_HOST',
    description: 'Interface to listen on (`0.0.0.0` to accept connections from other machines).',
    default: '127.0.0.1',
    parse: str,
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    description:
      'PostgreSQL (15 or newer) to use. Unset: Basalt starts its own embedded PostgreSQL under `BASALT_DATA_DIR`. The role must be able to create roles (or see `BASALT_APP_DATABASE_URL`); migrations run as it.',
    default: '',
    sensitive: true,
    parse: postgresUrl,
  },
  appDatabaseUrl: {
    env: 'BASALT_APP_DATABASE_URL',
    description:
      'Optional connection string for request traffic, naming a separately provisioned role that is a member of `basalt_app_access` (managed databases). Unset: Basalt creates and uses the role `BASALT_APP_DB_ROLE`.',
    default: '',
    sensitive: true,
    parse: postgresUrl,
  },
  appDbRole: {
    env: 'BASALT_APP_DB_ROLE',
    description: 'Name of the restricted login role Basalt creates for request traffic.',
    default: 'basalt_app',
    parse: (raw: string, env: string) => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(raw)) throw new ConfigError(env, 'must be a lower-case SQL identifier');
      return raw;
    },
  },
  appDbPassword: {
    env: 'BASALT_APP_DB_PASSWORD',
    description:
      'Password of that role. Unset: derived from `DATABASE_URL` with HMAC-SHA256, so every node computes the same one without sharing another secret.',
    default: '',
    sensitive: true,
    parse: optionalStr,
  },
  dataDir: {
    env: 'BASALT_DATA_DIR',
    description: 'Where the embedded PostgreSQL keeps its data (only without `DATABASE_URL`).',
    default: './data',
    parse: str,
  },
  embeddedPgPort: {
    env: 'BASALT_EMBEDDED_PG_PORT',
    description: 'TCP port (on 127.0.0.1) of the embedded PostgreSQL.',
    default: '54329',
    parse: int(1, 65535),
  },
  dbPoolSize: { env: 'BASALT_DB_POOL_SIZE', description: 'Connections per pool.', default: '20', parse: int(1, 500) },
  dbPoolMinIdle: {
    env: 'BASALT_DB_POOL_MIN_IDLE',
    description:
      'Connections a pool keeps open while idle (at most the pool size); the others close after 30 s idle. Reopening many at once under a burst stalls requests (a SCRAM handshake and a cold backend each).',
    default: '20',
    parse: int(0, 500),
  },
  statementTimeoutMs: {
    env: 'BASALT_STATEMENT_TIMEOUT_MS',
    description: 'Server-side statement timeout for request traffic.',
    default: '10000',
    parse: int(100, 600000),
  },
  connectTimeoutMs: {
    env: 'BASALT_DB_CONNECT_TIMEOUT_MS',
    description: 'Timeout for opening a database connection.',
    default: '3000',
    parse: int(100, 60000),
  },
  writeDeadlineMs: {
    env: 'BASALT_WRITE_DEADLINE_MS',
    description:
      'How long a write may keep retrying its transaction through connection loss or failover before the client gets 503.',
    default: '15000',
    parse: int(0, 300000),
  },
  adminEmail: {
    env: 'BASALT_ADMIN_EMAIL',
    description: 'Email of the first admin, created on first start of an empty database.',
    default: 'admin@basalt.local',
    parse: email,
  },
  adminPassword: {
    env: 'BASALT_ADMIN_PASSWORD',
    description: 'Password of the first admin. Unset: a random one is generated and printed once.',
    default: '',
    sensitive: true,
    parse: password,
  },
  organizationName: {
    env: 'BASALT_ORGANIZATION_NAME',
    description: 'Name of the organization created on first start.',
    default: 'Basalt',
    parse: str,
  },
  openSignup: {
    env: 'BASALT_OPEN_SIGNUP',
    description: 'Allow `POST /api/v1/signup` to create new organizations (multi-tenant hosting).',
    default: 'false',
    parse: bool,
  },
  accessTokenTtlSeconds: {
    env: 'BASALT_ACCESS_TOKEN_TTL_SECONDS',
    description: 'Lifetime of access tokens (JWT).',
    default: '900',
    parse: int(30, 86400),
  },
  refreshTokenTtlSeconds: {
    env: 'BASALT_REFRESH_TOKEN_TTL_SECONDS',
    description: 'Lifetime of refresh tokens.',
    default: String(30 * 86400),
    parse: int(60, 365 * 86400),
  },
  signingKeyRotationDays: {
    env: 'BASALT_SIGNING_KEY_ROTATION_DAYS',
    description: 'A new JWT signing key is made after this many days; old keys keep verifying until their tokens expire.',
    default: '30',
    parse: int(1, 3650),
  },
  loginMaxAttempts: {
    env: 'BASALT_LOGIN_MAX_ATTEMPTS',
    description: 'Failed sign-ins allowed per email (and 5x that per client address) in the window below.',
    default: '10',
    parse: int(1, 100000),
  },
  loginWindowSeconds: {
    env: 'BASALT_LOGIN_WINDOW_SECONDS',
    description: 'Window of the sign-in rate limit.',
    default: '900',
    parse: int(1, 86400),
  },
  bodyLimitBytes: {
    env: 'BASALT_BODY_LIMIT_BYTES',
    description: 'Largest accepted JSON request body.',
    default: String(1024 * 1024),
    parse: int(1024, 100 * 1024 * 1024),
  },
  requireIfMatchOnPatch: {
    env: 'BASALT_REQUIRE_IF_MATCH_ON_PATCH',
    description: 'Answer 428 to a PATCH without `If-Match` (DELETE always requires it).',
    default: 'true',
    parse: bool,
  },
  drainDelayMs: {
    env: 'BASALT_DRAIN_DELAY_MS',
    description: 'On SIGTERM: how long `/readyz` answers 503 while requests are still served, so load balancers notice.',
    default: '2000',
    parse: int(0, 600000),
  },
  shutdownTimeoutMs: {
    env: 'BASALT_SHUTDOWN_TIMEOUT_MS',
    description: 'On SIGTERM: the most time in-flight requests get to finish after the drain delay.',
    default: '15000',
    parse: int(0, 600000),
  },
  natsUrl: {
    env: 'BASALT_NATS_URL',
    description: 'NATS server(s) with JetStream to publish domain events to. Unset: in-process consumers only.',
    default: '',
    parse: natsUrl,
  },
  natsStream: {
    env: 'BASALT_NATS_STREAM',
    description: 'JetStream stream the outbox relay publishes to (created if missing).',
    default: 'BASALT_EVENTS',
    parse: (raw: string, env: string) => {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(raw)) throw new ConfigError(env, 'must be 1 to 64 letters, digits, `_` or `-`');
      return raw;
    },
  },
  natsSubjectPrefix: {
    env: 'BASALT_NATS_SUBJECT_PREFIX',
    description: 'Subject prefix of events: `<prefix>.<organizationId>.<object>.<event type>`; the stream takes `<prefix>.>`.',
    default: 'basalt.events',
    parse: (raw: string, env: string) => {
      if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(raw)) throw new ConfigError(env, 'must be dot-separated subject tokens');
      return raw;
    },
  },
  natsStreamReplicas: {
    env: 'BASALT_NATS_STREAM_REPLICAS',
    description: 'Replicas of the event stream (3 on a NATS cluster for HA).',
    default: '1',
    parse: int(1, 5),
  },
  natsDuplicateWindowSeconds: {
    env: 'BASALT_NATS_DUPLICATE_WINDOW_SECONDS',
    description: 'How long JetStream remembers event ids to drop republished events (`Nats-Msg-Id`).',
    default: '120',
    parse: int(1, 7 * 86400),
  },
  outboxRelay: {
    env: 'BASALT_OUTBOX_RELAY',
    description: 'Run the outbox relay and the webhook delivery worker in this process (any number of nodes may).',
    default: 'true',
    parse: bool,
  },
  auditSealer: {
    env: 'BASALT_AUDIT_SEALER',
    description: 'Link committed audit entries into their organization\'s hash chain in this process (any number of nodes may; audit reads also link first).',
    default: 'true',
    parse: bool,
  },
  outboxBatchSize: {
    env: 'BASALT_OUTBOX_BATCH_SIZE',
    description: 'Events the relay claims per batch.',
    default: '200',
    parse: int(1, 10000),
  },
  outboxPollMs: {
    env: 'BASALT_OUTBOX_POLL_MS',
    description: 'How often the relay and the webhook worker look for work written by other nodes (this node wakes them at once).',
    default: '1000',
    parse: int(10, 600000),
  },
  webhookTimeoutMs: {
    env: 'BASALT_WEBHOOK_TIMEOUT_MS',
    description: 'Timeout of one webhook request.',
    default: '1500',
    parse: int(100, 60000),
  },
  webhookMaxRetries: {
    env: 'BASALT_WEBHOOK_MAX_RETRIES',
    description: 'Retries of a failed webhook delivery before it is dead-lettered (replayable).',
    default: '3',
    parse: int(0, 20),
  },
  webhookRetryBaseMs: {
    env: 'BASALT_WEBHOOK_RETRY_BASE_MS',
    description: 'First retry delay; retry n waits about base x 4^(n-1), with jitter.',
    default: '30000',
    parse: int(1, 86400000),
  },
  webhookConcurrency: {
    env: 'BASALT_WEBHOOK_CONCURRENCY',
    description: 'Webhook requests in flight per node.',
    default: '16',
    parse: int(1, 1000),
  },
  webhookEndpointConcurrency: {
    env: 'BASALT_WEBHOOK_ENDPOINT_CONCURRENCY',
    description: 'Webhook requests in flight per node to one endpoint, so a slow endpoint cannot take every slot.',
    default: '4',
    parse: int(1, 1000),
  },
  webhookBreakerThreshold: {
    env: 'BASALT_WEBHOOK_BREAKER_THRESHOLD',
    description: 'Consecutive failures that open an endpoint circuit (its deliveries wait; others are unaffected).',
    default: '5',
    parse: int(1, 1000),
  },
  webhookBreakerCooldownMs: {
    env: 'BASALT_WEBHOOK_BREAKER_COOLDOWN_MS',
    description: 'How long an open circuit stays open before one probe request is let through.',
    default: '30000',
    parse: int(10, 3600000),
  },
  trustProxy: {
    env: 'BASALT_TRUST_PROXY',
    description:
      'Trust X-Forwarded-For from this many proxy hops (e.g. `1` behind HAProxy), so rate limits see the client address, not the load balancer\'s.',
    default: '0',
    parse: int(0, 10),
  },
  logLevel: {
    env: 'BASALT_LOG_LEVEL',
    description: 'Log level.',
    default: 'info',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  },
} satisfies Record<string, Setting<unknown>>;

type Settings = typeof settings;
export type Config = { [K in keyof Settings]: ReturnType<Settings[K]['parse']> };

/** Validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(settings) as [string, Setting<unknown>][]) {
    const raw = env[s.env] ?? s.default ?? '';
    out[key] = s.parse(raw, s.env);
  }
  return out as Config;
}

/** The README's configuration table. */
export function configTable(): string {
  const rows = Object.values(settings as Record<string, Setting<unknown>>).map((s) => {
    const def = s.default === undefined || s.default === '' ? '—' : `\`${s.default}\``;
    return `| \`${s.env}\` | ${def} | ${s.description}${s.sensitive ? ' *(secret)*' : ''} |`;
  });
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
