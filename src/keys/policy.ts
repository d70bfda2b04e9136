import type { ApiKeysTable, CustomersTable } from '../storage/types.ts';
import { iso } from '../lib/clock.ts';

/** `{provider: [models…]}`; `"*"` as a provider or model means "any" (seed format). */
export type ModelAllowlist = Record<string, string[]>;

export interface Customer {
  id: string;
  email: string;
  plan: string;
  monthly_cap_cents: number;
  is_active: boolean;
  cap_mode: 'hard' | 'soft';
  max_devices_per_key: number | null;
  require_install_id: boolean;
  allowed_providers: string[] | null;
  allowed_models: ModelAllowlist | null;
  rpm_limit: number | null;
  rpd_limit: number | null;
  created_at: number;
  updated_at: number;
}

export interface ApiKey {
  id: string;
  customer_id: string;
  key_last4: string;
  label: string;
  role: string;
  kind: string;
  monthly_cap_cents: number | null;
  rpm_limit: number | null;
  rpd_limit: number | null;
  max_devices: number | null;
  require_install_id: boolean | null;
  allowed_providers: string[] | null;
  allowed_models: ModelAllowlist | null;
  created_at: number;
  updated_at: number;
  revoked_at: number | null;
  last_seen_at: number | null;
  rotated_from: string | null;
}

const json = <T>(s: string | null): T | null => (s == null ? null : (JSON.parse(s) as T));
const num = (v: number | null): number | null => (v == null ? null : Number(v));

export function customerFromRow(r: CustomersTable): Customer {
  return {
    id: r.id,
    email: r.email,
    plan: r.plan,
    monthly_cap_cents: Number(r.monthly_cap_cents),
    is_active: Number(r.is_active) === 1,
    cap_mode: r.cap_mode === 'soft' ? 'soft' : 'hard',
    max_devices_per_key: num(r.max_devices_per_key),
    require_install_id: Number(r.require_install_id) === 1,
    allowed_providers: json<string[]>(r.allowed_providers),
    allowed_models: json<ModelAllowlist>(r.allowed_models),
    rpm_limit: num(r.rpm_limit),
    rpd_limit: num(r.rpd_limit),
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
  };
}

export function keyFromRow(r: Omit<ApiKeysTable, 'key_hash'> & { key_hash?: string }): ApiKey {
  return {
    id: r.id,
    customer_id: r.customer_id,
    key_last4: r.key_last4,
    label: r.label,
    role: r.role,
    kind: r.kind,
    monthly_cap_cents: num(r.monthly_cap_cents),
    rpm_limit: num(r.rpm_limit),
    rpd_limit: num(r.rpd_limit),
    max_devices: num(r.max_devices),
    require_install_id: r.require_install_id == null ? null : Number(r.require_install_id) === 1,
    allowed_providers: json<string[]>(r.allowed_providers),
    allowed_models: json<ModelAllowlist>(r.allowed_models),
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
    revoked_at: num(r.revoked_at),
    last_seen_at: num(r.last_seen_at),
    rotated_from: r.rotated_from,
  };
}

/** Public JSON for a customer (ISO times). */
export const customerView = (c: Customer) => ({ ...c, created_at: iso(c.created_at), updated_at: iso(c.updated_at) });

/** Public JSON for a key: last4 only, never the key or its hash. */
export const keyView = (k: ApiKey) => ({
  ...k,
  created_at: iso(k.created_at),
  updated_at: iso(k.updated_at),
  revoked_at: iso(k.revoked_at),
  last_seen_at: iso(k.last_seen_at),
  is_revoked: k.revoked_at != null,
});

/** Effective policy for a key: key override, else the customer's (null = inherit). */
export function effectivePolicy(key: ApiKey, customer: Customer, defaults: { rpm: number; rpd?: number }) {
  return {
    allowedProviders: key.allowed_providers ?? customer.allowed_providers,
    allowedModels: key.allowed_models ?? customer.allowed_models,
    requireInstallId: key.require_install_id ?? customer.require_install_id,
    maxDevices: key.max_devices ?? customer.max_devices_per_key,
    rpm: key.rpm_limit ?? customer.rpm_limit ?? defaults.rpm,
    rpd: key.rpd_limit ?? customer.rpd_limit ?? defaults.rpd ?? null,
  };
}
