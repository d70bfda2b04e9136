import { z } from 'zod';

/**
 * Every environment variable the gateway reads, in one schema. Parsed once at boot
 * (see load.ts), frozen, and injected; nothing else reads process.env.
 * Empty strings count as missing.
 */
const num = () => z.coerce.number({ error: 'must be a whole number' }).int('must be a whole number');
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => num().min(min).max(max).default(def);
const optInt = (min = 0, max = Number.MAX_SAFE_INTEGER) => num().min(min).max(max).optional();
const bool = (def: boolean) =>
  z
    .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
    .default(def ? 'true' : 'false')
    .transform((v) => ['1', 'true', 'yes', 'on'].includes(v));
const url = () => z.string().url();
const optStr = () => z.string().min(1).optional();
const list = () =>
  z
    .string()
    .default('')
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
  PORT: int(8787, 0, 65535),
  HOST: z.string().default('0.0.0.0'),
  DATA_DIR: z.string().default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^(postgres(ql)?:\/\/|sqlite:|file:)/, 'must be postgres://…, sqlite:<path> or file:<path>')
    .optional(),
  DATABASE_POOL_MAX: int(10, 1, 200),
  /** SQLite file: WAL checkpoints on a worker thread (storage/wal-checkpointer.ts) or, inline, in the committing call. */
  SQLITE_WAL_CHECKPOINT: z.enum(['background', 'inline']).default('background'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PUBLIC_BASE_URL: url().optional(),

  // Secrets: generated on first start and kept in DATA_DIR/secrets.json (0600) when absent.
  ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').optional(),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  KEY_PEPPER: z.string().min(32, 'must be at least 32 characters').optional(),
  ENCRYPTION_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  ADMIN_PASSWORD_HEADER: bool(false),
  ADMIN_LOGIN_MAX_FAILS: int(5, 1, 1000),
  ADMIN_LOGIN_WINDOW_SECONDS: int(900, 1, 86_400),
  TRUST_PROXY: bool(false),

  ALLOWED_ORIGINS: list(),
  MAX_BODY_BYTES: int(1_048_576, 1024, 64 * 1024 * 1024),
  /** Well-formed chat calls (JSON and SSE) served on node:http directly (http/fast-lane.ts); false = all through the app. */
  HTTP_FAST_LANE: bool(true),

  // Multi-node: several gateway processes share one PostgreSQL (a PostgreSQL DATABASE_URL means
  // "may run as several nodes": shared state never lives only in process memory).
  NODE_ID: optStr(),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be redis://… or rediss://…').optional(),
  REDIS_PREFIX: z.string().default('kaixu:'),
  KEY_CACHE_TTL_MS: int(30_000, 0, 3_600_000),
  INVALIDATION_POLL_MS: int(250, 20, 60_000),

  // Governance defaults.
  DEFAULT_CUSTOMER_CAP_CENTS: int(2000),
  DEFAULT_RPM_LIMIT: int(120),
  DEFAULT_RPD_LIMIT: optInt(),
  RATE_LIMIT_BACKEND: z.enum(['auto', 'memory', 'postgres', 'redis']).default('auto'),
  CAP_WARN_PCT: int(85, 1, 100),
  ALERT_WEBHOOK_URL: url().optional(),
  RESERVATION_TTL_MS: int(600_000, 1_000, 86_400_000),

  // Upstreams.
  OPENAI_API_KEY: optStr(),
  OPENAI_BASE_URL: url().default('https://api.openai.com/v1'),
  ANTHROPIC_API_KEY: optStr(),
  ANTHROPIC_BASE_URL: url().default('https://api.anthropic.com'),
  GEMINI_API_KEY: optStr(),
  GEMINI_BASE_URL: url().default('https://generativelanguage.googleapis.com'),
  UPSTREAM_CONNECT_TIMEOUT_MS: int(10_000, 1, 600_000),
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: int(120_000, 1, 3_600_000),
  UPSTREAM_IDLE_TIMEOUT_MS: int(60_000, 1, 3_600_000),
  UPSTREAM_MAX_RETRY_AFTER_MS: int(5_000, 0, 120_000),
  STREAM_PING_MS: int(15_000, 100, 600_000),

  // Self-service keys and user sessions.
  DEFAULT_SELFSERVE_CAP_CENTS: int(2000),
  DEFAULT_SELFSERVE_RPM: int(10),
  DEFAULT_SELFSERVE_MAX_DEVICES: int(3),
  DEFAULT_SELFSERVE_PLAN: z.string().default('starter'),
  REQUEST_KEY_PER_EMAIL_PER_HOUR: int(5, 1, 10_000),
  REQUEST_KEY_PER_IP_PER_HOUR: int(20, 1, 100_000),
  USER_SESSION_TTL_SECONDS: int(21_600, 60, 86_400),

  // Stripe.
  STRIPE_SECRET_KEY: optStr(),
  STRIPE_WEBHOOK_SECRET: optStr(),
  STRIPE_CURRENCY: z.string().default('usd'),
  STRIPE_SUCCESS_URL: url().optional(),
  STRIPE_CANCEL_URL: url().optional(),
  STRIPE_API_HOST: optStr(),
  STRIPE_API_PORT: optInt(1, 65535),
  STRIPE_API_PROTOCOL: z.enum(['http', 'https']).optional(),

  // Observability and jobs.
  /** false: no per-request monitor events (the observer is not registered); client error reports still recorded. */
  MONITOR_ENABLED: bool(true),
  MONITOR_RETENTION_DAYS: int(30, 1, 3650),
  MONITOR_ARCHIVE: bool(false),
  MONITOR_QUEUE_MAX: int(10_000, 10, 1_000_000),
  MONITOR_FLUSH_MS: int(200, 5, 60_000),
  CLIENT_ERROR_TOKEN: optStr(),
  HEARTBEAT_INTERVAL: int(300_000, 1_000, 86_400_000),
  HEARTBEAT_URL: url().optional(),
  METRICS_TOKEN: optStr(),
  JOBS_ENABLED: bool(true),
  JOBS_POLL_MS: int(1_000, 10, 600_000),
  JOBS_LEASE_MS: int(60_000, 100, 3_600_000),
  JOBS_MAX_ATTEMPTS: int(8, 1, 100),
  JOBS_CONCURRENCY: int(4, 1, 64),
  JOBS_BACKOFF_BASE_MS: int(1_000, 1, 3_600_000),
  JOBS_BACKOFF_MAX_MS: int(300_000, 1, 86_400_000),
  JOBS_RETENTION_DAYS: int(7, 1, 3650),
  MONITOR_STREAM_POLL_MS: int(1_000, 20, 60_000),
  HEARTBEAT_TIMEOUT_MS: int(10_000, 50, 600_000),
  CLIENT_ERROR_PER_IP_PER_MIN: int(60, 1, 1_000_000),
});

export type Env = z.infer<typeof envSchema>;

export interface Secrets {
  adminPassword: string;
  jwtSecret: string;
  keyPepper: string;
  encryptionKey: string;
}

export type Config = Readonly<
  Env & {
    secrets: Readonly<Secrets>;
    database: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
    nodeId: string;
    version: string;
  }
>;
