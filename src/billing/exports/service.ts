import type { AuthContext } from '../../keys/auth.ts';
import { customerFromRow, type Customer } from '../../keys/policy.ts';
import { iso } from '../../lib/clock.ts';
import { AppError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/logger.ts';
import { microsToCents } from '../../lib/money.ts';
import type { Db } from '../../storage/db.ts';
import { forKeyHolder } from '../invoices/visibility.ts';
import type { InvoiceService } from '../invoices/service.ts';
import type { InvoiceSnapshot } from '../invoices/types.ts';
import type { CsvValue } from './csv.ts';
import { csvText, keysetCsvStream, type KeysetSource } from './stream.ts';

export type ExportKind = 'events' | 'summary' | 'invoice';

/** Seed columns first, then ours. */
export const ADMIN_EVENTS_HEADER = [
  'created_at', 'api_key_id', 'provider', 'model', 'input_tokens', 'output_tokens', 'cost_cents', 'install_id',
  'request_id', 'upstream_provider', 'upstream_model', 'cost_micros', 'usage_source', 'app', 'build', 'status',
] as const;
export const USER_EVENTS_HEADER = ['created_at', 'provider', 'model', 'input_tokens', 'output_tokens', 'cost_cents', 'install_id', 'request_id'] as const;
export const ADMIN_SUMMARY_HEADER = ['month', 'customer_id', 'email', 'plan', 'cap_cents', 'extra_cents', 'spent_cents', 'input_tokens', 'output_tokens', 'calls'] as const;
export const USER_SUMMARY_HEADER = [
  'month', 'customer_id', 'plan', 'customer_cap_cents', 'customer_spent_cents', 'customer_extra_cents',
  'key_id', 'key_last4', 'key_label', 'key_cap_cents', 'key_spent_cents', 'key_input_tokens', 'key_output_tokens', 'key_calls',
] as const;
export const INVOICE_HEADER = ['type', 'api_key_id', 'key_last4', 'spent_cents', 'total_tokens', 'label', 'input_tokens', 'output_tokens', 'calls'] as const;

interface EventRow {
  id: number;
  created_at: number;
  api_key_id: string;
  provider: string;
  model: string;
  input_tokens: number;
  output_tokens: number;
  cost_micros: number;
  install_id: string | null;
  request_id: string;
  upstream_provider: string;
  upstream_model: string;
  usage_source: string;
  app: string | null;
  build: string | null;
  status: string;
}

interface EventFilter {
  customerId: string;
  apiKeyId?: string;
  month: string;
}

export interface CsvExport {
  filename: string;
  body: ReadableStream<Uint8Array> | string;
}

const cents = (micros: number) => microsToCents(Number(micros));

/**
 * CSV exports for the admin (a customer, optionally one key) and the key holder (own key).
 * Events stream from the ledger in keyset pages; summary and invoice are a few rows.
 */
export class ExportService {
  constructor(
    private readonly db: Db,
    private readonly invoices: InvoiceService,
    private readonly log: Logger,
    private readonly batchSize = 2000,
  ) {}

  private async customer(customerId: string): Promise<Customer> {
    const row = await this.db.selectFrom('customers').selectAll().where('id', '=', customerId).executeTakeFirst();
    if (!row) throw new AppError('NOT_FOUND', 'Customer not found');
    return customerFromRow(row);
  }

  /** Events of one month, streamed. The id cut-off taken at the start makes the file one consistent cut. */
  private async eventStream(f: EventFilter, header: readonly string[], toCells: (r: EventRow) => CsvValue[], maxRows?: number) {
    let top = this.db.selectFrom('usage_events').select((eb) => eb.fn.max('id').as('m')).where('customer_id', '=', f.customerId).where('month', '=', f.month);
    if (f.apiKeyId) top = top.where('api_key_id', '=', f.apiKeyId);
    const upTo = Number((await top.executeTakeFirst())?.m ?? 0);
    const source: KeysetSource<EventRow> = {
      fetch: (afterId, limit) => {
        let q = this.db
          .selectFrom('usage_events')
          .select(['id', 'created_at', 'api_key_id', 'provider', 'model', 'input_tokens', 'output_tokens', 'cost_micros', 'install_id', 'request_id', 'upstream_provider', 'upstream_model', 'usage_source', 'app', 'build', 'status'])
          .where('customer_id', '=', f.customerId)
          .where('month', '=', f.month);
        if (f.apiKeyId) q = q.where('api_key_id', '=', f.apiKeyId);
        return q.where('id', '>', afterId).where('id', '<=', upTo).orderBy('id').limit(limit).execute() as Promise<EventRow[]>;
      },
      idOf: (r) => Number(r.id),
      toCells,
    };
    return keysetCsvStream(source, {
      header,
      batchSize: this.batchSize,
      maxRows,
      onError: (e) => this.log.error({ err: e, customer_id: f.customerId, month: f.month }, 'events export failed mid-stream'),
    });
  }

  async admin(kind: ExportKind, customerId: string, month: string, opts: { apiKeyId?: string; limit?: number } = {}): Promise<CsvExport> {
    const customer = await this.customer(customerId);
    if (opts.apiKeyId) {
      const k = await this.db.selectFrom('api_keys').select('id').where('id', '=', opts.apiKeyId).where('customer_id', '=', customerId).executeTakeFirst();
      if (!k) throw new AppError('NOT_FOUND', 'Key not found for this customer');
    }
    const filename = `kaixu-admin-${kind}-${month}-customer${customerId}${opts.apiKeyId ? `-key${opts.apiKeyId}` : ''}.csv`;
    if (kind === 'events') {
      const body = await this.eventStream({ customerId, apiKeyId: opts.apiKeyId, month }, ADMIN_EVENTS_HEADER, (r) => [
        iso(r.created_at), r.api_key_id, r.provider, r.model, Number(r.input_tokens), Number(r.output_tokens), cents(r.cost_micros), r.install_id,
        r.request_id, r.upstream_provider, r.upstream_model, Number(r.cost_micros), r.usage_source, r.app, r.build, r.status,
      ], opts.limit);
      return { filename, body };
    }
    if (kind === 'summary') {
      const u = await this.db.selectFrom('monthly_usage').selectAll().where('customer_id', '=', customerId).where('month', '=', month).executeTakeFirst();
      const row: CsvValue[] = [
        month, customer.id, customer.email, customer.plan, customer.monthly_cap_cents, Number(u?.extra_cents ?? 0), cents(u?.spent_micros ?? 0),
        Number(u?.input_tokens ?? 0), Number(u?.output_tokens ?? 0), Number(u?.calls ?? 0),
      ];
      return { filename, body: csvText(ADMIN_SUMMARY_HEADER, [row]) };
    }
    const rec = await this.invoices.get(customerId, month);
    return { filename, body: invoiceCsv(rec.snapshot, opts.apiKeyId) };
  }

  /** The key holder's own exports: events and the key line are always the calling key's only. */
  async user(kind: ExportKind, auth: AuthContext, month: string, opts: { limit?: number } = {}): Promise<CsvExport> {
    const { key, customer } = auth;
    const filename = `kaixu-${kind}-${month}-key${key.key_last4}.csv`;
    if (kind === 'events') {
      const body = await this.eventStream({ customerId: customer.id, apiKeyId: key.id, month }, USER_EVENTS_HEADER, (r) => [
        iso(r.created_at), r.provider, r.model, Number(r.input_tokens), Number(r.output_tokens), cents(r.cost_micros), r.install_id, r.request_id,
      ], opts.limit);
      return { filename, body };
    }
    if (kind === 'summary') {
      const [cu, ku] = await Promise.all([
        this.db.selectFrom('monthly_usage').selectAll().where('customer_id', '=', customer.id).where('month', '=', month).executeTakeFirst(),
        this.db.selectFrom('monthly_key_usage').selectAll().where('api_key_id', '=', key.id).where('month', '=', month).executeTakeFirst(),
      ]);
      const customerCap = customer.monthly_cap_cents + Number(cu?.extra_cents ?? 0);
      const row: CsvValue[] = [
        month, customer.id, customer.plan, customerCap, cents(cu?.spent_micros ?? 0), Number(cu?.extra_cents ?? 0),
        key.id, key.key_last4, key.label, key.monthly_cap_cents ?? customerCap, cents(ku?.spent_micros ?? 0),
        Number(ku?.input_tokens ?? 0), Number(ku?.output_tokens ?? 0), Number(ku?.calls ?? 0),
      ];
      return { filename, body: csvText(USER_SUMMARY_HEADER, [row]) };
    }
    const rec = forKeyHolder(await this.invoices.get(customer.id, month), key);
    return { filename, body: invoiceCsv(rec.snapshot) };
  }
}

/** Invoice CSV: a TOTAL row, then one KEY row per key line (optionally just one key). */
export function invoiceCsv(s: InvoiceSnapshot, onlyKeyId?: string): string {
  const t = s.totals;
  const rows: CsvValue[][] = [['TOTAL', '', '', t.spent_cents, t.total_tokens, '', t.input_tokens, t.output_tokens, t.calls]];
  for (const k of s.keys) {
    if (onlyKeyId && k.api_key_id !== onlyKeyId) continue;
    rows.push(['KEY', k.api_key_id, k.key_last4, k.spent_cents, k.input_tokens + k.output_tokens, k.label, k.input_tokens, k.output_tokens, k.calls]);
  }
  return csvText(INVOICE_HEADER, rows);
}
