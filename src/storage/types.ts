import type { Generated } from 'kysely';

/**
 * Table shapes shared by both dialects. Portable conventions:
 * - times are epoch milliseconds (bigint), months are UTC `YYYY-MM` text;
 * - money is integer micro-dollars (`*_micros`) or whole cents where the seed stores cents;
 * - booleans are integers 0/1; lists/objects are JSON text.
 * Each area adds its tables in its own migration and its interface here.
 */
export interface CustomersTable {
  id: string;
  email: string;
  plan: string;
  monthly_cap_cents: number;
  is_active: number;
  cap_mode: string;
  max_devices_per_key: number | null;
  require_install_id: number;
  allowed_providers: string | null;
  allowed_models: string | null;
  rpm_limit: number | null;
  rpd_limit: number | null;
  created_at: number;
  updated_at: number;
}

export interface ApiKeysTable {
  id: string;
  customer_id: string;
  key_hash: string;
  key_last4: string;
  label: string;
  role: string;
  kind: string;
  monthly_cap_cents: number | null;
  rpm_limit: number | null;
  rpd_limit: number | null;
  max_devices: number | null;
  require_install_id: number | null;
  allowed_providers: string | null;
  allowed_models: string | null;
  created_at: number;
  updated_at: number;
  revoked_at: number | null;
  last_seen_at: number | null;
  rotated_from: string | null;
}

export interface MonthlyUsageTable {
  customer_id: string;
  month: string;
  spent_micros: number;
  reserved_micros: number;
  extra_cents: number;
  input_tokens: number;
  output_tokens: number;
  calls: number;
  updated_at: number;
}

export interface MonthlyKeyUsageTable {
  api_key_id: string;
  customer_id: string;
  month: string;
  spent_micros: number;
  reserved_micros: number;
  input_tokens: number;
  output_tokens: number;
  calls: number;
  updated_at: number;
}

export interface UsageEventsTable {
  id: Generated<number>;
  created_at: number;
  month: string;
  request_id: string;
  customer_id: string;
  api_key_id: string;
  provider: string;
  model: string;
  upstream_provider: string;
  upstream_model: string;
  input_tokens: number;
  output_tokens: number;
  usage_source: string;
  cost_micros: number;
  install_id: string | null;
  app: string | null;
  build: string | null;
  status: string;
  latency_ms: number;
  ip_hash: string | null;
  ua: string | null;
  kind: string;
}

export interface KeyDevicesTable {
  api_key_id: string;
  customer_id: string;
  install_id: string;
  device_label: string | null;
  first_seen_at: number;
  last_seen_at: number;
  last_seen_ua: string | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

export interface AuditEventsTable {
  id: Generated<number>;
  created_at: number;
  actor: string;
  action: string;
  target: string | null;
  customer_id: string | null;
  summary: string | null;
  ip: string | null;
  meta: string | null;
}

export interface InvalidationsTable {
  id: Generated<number>;
  kind: string;
  target: string;
  created_at: number;
}

export interface ThrottleCountersTable {
  scope: string;
  key: string;
  window_start: number;
  count: number;
}

/** Admin-registered upstreams (002_chat); secrets are SecretBox envelopes. */
export interface UpstreamsTable {
  name: string;
  kind: string;
  base_url: string;
  api_key_sealed: string | null;
  headers_sealed: string | null;
  connect_timeout_ms: number | null;
  first_byte_timeout_ms: number | null;
  idle_timeout_ms: number | null;
  is_active: number;
  created_at: number;
  updated_at: number;
}

/** Lanes (002_chat): public provider/model → JSON array of {provider, model} targets. */
export interface LanesTable {
  id: string;
  provider: string;
  model: string;
  targets: string;
  report_public: number;
  display_provider: string | null;
  is_active: number;
  created_at: number;
  updated_at: number;
}

export interface TopupEventsTable {
  id: Generated<number>;
  customer_id: string;
  month: string;
  amount_cents: number;
  source: string;
  status: string;
  stripe_session_id: string | null;
  stripe_event_id: string | null;
  note: string | null;
  actor: string;
  created_at: number;
}

export interface StripeEventsTable {
  event_id: string;
  type: string;
  session_id: string | null;
  outcome: string;
  received_at: number;
}

export interface MonthlyInvoicesTable {
  customer_id: string;
  month: string;
  snapshot: string;
  version: number;
  created_at: number;
  updated_at: number;
  created_by: string;
  grand_total_cents: number;
}

export interface MonitorEventsTable {
  id: Generated<number>;
  created_at: number;
  request_id: string | null;
  level: string;
  kind: string;
  operation: string | null;
  method: string | null;
  path: string | null;
  status: number | null;
  duration_ms: number | null;
  app: string | null;
  build: string | null;
  customer_id: string | null;
  api_key_id: string | null;
  provider: string | null;
  model: string | null;
  upstream_status: number | null;
  error_code: string | null;
  error_message: string | null;
  body_preview: string | null;
  ip: string | null;
  user_agent: string | null;
  node_id: string | null;
  extra: string | null;
}

export interface JobsTable {
  id: string;
  kind: string;
  payload: string;
  status: string;
  attempts: number;
  max_attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error: string | null;
  dedupe_key: string | null;
  customer_id: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface JobEventsTable {
  id: Generated<number>;
  created_at: number;
  job_id: string;
  kind: string;
  event: string;
  attempt: number;
  node_id: string | null;
  customer_id: string | null;
  error: string | null;
  duration_ms: number | null;
}

export interface HeartbeatsTable {
  slot_start: number;
  created_at: number;
  ok: number;
  http_status: number | null;
  db_ok: number;
  response_ms: number | null;
  error: string | null;
  error_type: string | null;
  node_id: string | null;
}

export interface PricingTable {
  provider: string;
  model: string;
  input_micros_per_m: number;
  output_micros_per_m: number;
  markup_bp: number;
  updated_at: number;
  updated_by: string | null;
}

export interface ReservationsTable {
  id: string;
  customer_id: string;
  api_key_id: string;
  month: string;
  amount_micros: number;
  request_id: string;
  created_at: number;
  expires_at: number;
}

export interface RateLimitWindowsTable {
  bucket: string;
  window_start: number;
  count: number;
  expires_at: number;
}

export interface AlertsSentTable {
  customer_id: string;
  /** '' for the customer scope. */
  api_key_id: string;
  month: string;
  alert_type: string;
  created_at: number;
}

export interface Database {
  customers: CustomersTable;
  api_keys: ApiKeysTable;
  monthly_usage: MonthlyUsageTable;
  monthly_key_usage: MonthlyKeyUsageTable;
  usage_events: UsageEventsTable;
  key_devices: KeyDevicesTable;
  audit_events: AuditEventsTable;
  invalidations: InvalidationsTable;
  throttle_counters: ThrottleCountersTable;
  pricing: PricingTable;
  reservations: ReservationsTable;
  rate_limit_windows: RateLimitWindowsTable;
  alerts_sent: AlertsSentTable;
  upstreams: UpstreamsTable;
  lanes: LanesTable;
  topup_events: TopupEventsTable;
  stripe_events: StripeEventsTable;
  monthly_invoices: MonthlyInvoicesTable;
  monitor_events: MonitorEventsTable;
  jobs: JobsTable;
  job_events: JobEventsTable;
  heartbeats: HeartbeatsTable;
}
