/**
 * The invoice snapshot shape (seed `_lib/invoices.js`, kept; amounts here are whole cents,
 * rounded once from the µ$ ledger, with the exact µ$ alongside for reconciliation).
 */
export interface InvoiceKeyLine {
  api_key_id: string;
  key_last4: string | null;
  label: string | null;
  revoked: boolean;
  spent_cents: number;
  spent_micros: number;
  input_tokens: number;
  output_tokens: number;
  calls: number;
}

export interface InvoiceTopup {
  id: number;
  amount_cents: number;
  source: string;
  status: string;
  stripe_session_id: string | null;
  note: string | null;
  created_at: string | null;
}

export interface InvoiceTotals {
  /** The plan's monthly cap (top-ups are `extra_cents`; the effective cap is their sum). */
  cap_cents: number;
  extra_cents: number;
  /** Σ ledger cost for the month, rounded once to whole cents. */
  spent_cents: number;
  spent_micros: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  calls: number;
  /** Push/GitHub charges once those lanes bill (0 until then). */
  push_total_cents: number;
  /** spent + extra (purchased top-ups) + push, as the seed defines it. */
  grand_total_cents: number;
}

export interface InvoiceSnapshot {
  generated_at: string;
  month: string;
  currency: string;
  customer: { id: string; email: string; plan: string; plan_name: string; monthly_cap_cents: number };
  totals: InvoiceTotals;
  keys: InvoiceKeyLine[];
  topups: InvoiceTopup[];
  /** Room for push charges (KaixuPush lane); null until that lane exists. */
  push: null | Record<string, unknown>;
}

export interface InvoiceRecord {
  exists: boolean;
  month: string;
  customer_id: string;
  snapshot: InvoiceSnapshot;
  version: number | null;
  created_at: string | null;
  updated_at: string | null;
}
