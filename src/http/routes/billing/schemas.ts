import { z } from '@hono/zod-openapi';

export const InvoiceKeyLine = z
  .object({
    api_key_id: z.string(),
    key_last4: z.string().nullable(),
    label: z.string().nullable(),
    revoked: z.boolean(),
    spent_cents: z.number(),
    spent_micros: z.number(),
    input_tokens: z.number(),
    output_tokens: z.number(),
    calls: z.number(),
  })
  .openapi('InvoiceKeyLine');

export const TopupLine = z
  .object({
    id: z.number(),
    amount_cents: z.number(),
    source: z.string(),
    status: z.string(),
    stripe_session_id: z.string().nullable(),
    note: z.string().nullable(),
    created_at: z.string().nullable(),
  })
  .openapi('InvoiceTopup');

export const InvoiceSnapshot = z
  .object({
    generated_at: z.string(),
    month: z.string(),
    currency: z.string(),
    customer: z.object({ id: z.string(), email: z.string(), plan: z.string(), plan_name: z.string(), monthly_cap_cents: z.number() }),
    totals: z.object({
      cap_cents: z.number(),
      extra_cents: z.number(),
      spent_cents: z.number().openapi({ description: 'Σ ledger cost rounded once to whole cents' }),
      spent_micros: z.number(),
      input_tokens: z.number(),
      output_tokens: z.number(),
      total_tokens: z.number(),
      calls: z.number(),
      push_total_cents: z.number(),
      grand_total_cents: z.number().openapi({ description: 'spent + extra + push' }),
    }),
    keys: z.array(InvoiceKeyLine),
    topups: z.array(TopupLine),
    push: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('InvoiceSnapshot');

export const InvoiceRecord = z
  .object({
    exists: z.boolean(),
    month: z.string(),
    customer_id: z.string(),
    snapshot: InvoiceSnapshot,
    version: z.number().nullable(),
    created_at: z.string().nullable(),
    updated_at: z.string().nullable(),
  })
  .openapi('InvoiceRecord');

export const Topup = TopupLine.extend({ customer_id: z.string(), month: z.string(), actor: z.string() }).openapi('Topup');

export const CheckoutResult = z.object({ ok: z.boolean(), url: z.string(), id: z.string(), month: z.string(), amount_cents: z.number() }).openapi('CheckoutSession');
