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
}
