import { z } from '@hono/zod-openapi';
import { ROLES } from '../../../keys/key-material.ts';

const provider = z.string().min(1).max(64);
export const AllowedProviders = z.array(provider).max(100).nullable().openapi({ example: ['openai', 'anthropic'] });
export const AllowedModels = z
  .record(provider, z.array(z.string().min(1).max(200)).max(500))
  .nullable()
  .openapi({ example: { openai: ['gpt-4o-mini'], anthropic: ['*'] } });
const cents = z.number().int().min(0).max(1_000_000_000_000);
const limit = z.number().int().min(0).max(10_000_000);

export const CustomerPolicyFields = {
  plan: z.string().min(1).max(40),
  monthly_cap_cents: cents,
  is_active: z.boolean(),
  cap_mode: z.enum(['hard', 'soft']),
  max_devices_per_key: limit.nullable(),
  require_install_id: z.boolean(),
  allowed_providers: AllowedProviders,
  allowed_models: AllowedModels,
  rpm_limit: limit.nullable(),
  rpd_limit: limit.nullable(),
};

export const CreateCustomerBody = z
  .object({ email: z.string().email().max(254), ...Object.fromEntries(Object.entries(CustomerPolicyFields).map(([k, v]) => [k, v.optional()])) })
  .strict()
  .openapi('CreateCustomer') as z.ZodType<{ email: string } & Partial<{ [K in keyof typeof CustomerPolicyFields]: z.infer<(typeof CustomerPolicyFields)[K]> }>>;

export const UpdateCustomerBody = z
  .object({ email: z.string().email().max(254).optional(), ...Object.fromEntries(Object.entries(CustomerPolicyFields).map(([k, v]) => [k, v.optional()])) })
  .strict()
  .refine((o) => Object.keys(o).length > 0, { message: 'No fields to update' })
  .openapi('UpdateCustomer') as z.ZodType<Partial<{ email: string } & { [K in keyof typeof CustomerPolicyFields]: z.infer<(typeof CustomerPolicyFields)[K]> }>>;

export const KeyOverrideFields = {
  label: z.string().min(1).max(60),
  role: z.enum(ROLES),
  monthly_cap_cents: cents.nullable(),
  rpm_limit: limit.nullable(),
  rpd_limit: limit.nullable(),
  max_devices: limit.nullable(),
  require_install_id: z.boolean().nullable(),
  allowed_providers: AllowedProviders,
  allowed_models: AllowedModels,
};
type KeyOverrideShape = Partial<{ [K in keyof typeof KeyOverrideFields]: z.infer<(typeof KeyOverrideFields)[K]> }>;
const optionalKeyFields = Object.fromEntries(Object.entries(KeyOverrideFields).map(([k, v]) => [k, v.optional()]));

export const CreateKeyBody = z.object(optionalKeyFields).strict().openapi('CreateKey') as z.ZodType<KeyOverrideShape>;
export const UpdateKeyBody = z
  .object(optionalKeyFields)
  .strict()
  .refine((o) => Object.keys(o).length > 0, { message: 'No fields to update' })
  .openapi('UpdateKey') as z.ZodType<KeyOverrideShape>;

export const CustomerView = z
  .object({
    id: z.string(),
    email: z.string(),
    plan: z.string(),
    monthly_cap_cents: z.number(),
    is_active: z.boolean(),
    cap_mode: z.string(),
    max_devices_per_key: z.number().nullable(),
    require_install_id: z.boolean(),
    allowed_providers: z.array(z.string()).nullable(),
    allowed_models: z.record(z.string(), z.array(z.string())).nullable(),
    rpm_limit: z.number().nullable(),
    rpd_limit: z.number().nullable(),
    created_at: z.string().nullable(),
    updated_at: z.string().nullable(),
  })
  .openapi('Customer');

export const KeyView = z
  .object({
    id: z.string(),
    customer_id: z.string(),
    key_last4: z.string(),
    label: z.string(),
    role: z.string(),
    kind: z.string(),
    monthly_cap_cents: z.number().nullable(),
    rpm_limit: z.number().nullable(),
    rpd_limit: z.number().nullable(),
    max_devices: z.number().nullable(),
    require_install_id: z.boolean().nullable(),
    allowed_providers: z.array(z.string()).nullable(),
    allowed_models: z.record(z.string(), z.array(z.string())).nullable(),
    created_at: z.string().nullable(),
    updated_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
    last_seen_at: z.string().nullable(),
    rotated_from: z.string().nullable(),
    is_revoked: z.boolean(),
  })
  .openapi('ApiKey');

export const IssuedKeyView = z.object({ key: z.string().openapi({ description: 'The key string, shown once.' }), api_key: KeyView }).openapi('IssuedKey');
