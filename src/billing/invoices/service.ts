import type { Kysely } from 'kysely';
import type { AuditLog } from '../../audit/audit.ts';
import type { Actor } from '../../keys/service.ts';
import { customerFromRow, type Customer } from '../../keys/policy.ts';
import { iso, monthOf, type Clock } from '../../lib/clock.ts';
import { AppError } from '../../lib/errors.ts';
import { isUniqueViolation, type Db, type Dialect } from '../../storage/db.ts';
import type { Database, MonthlyInvoicesTable } from '../../storage/types.ts';
import { computeInvoice } from './compute.ts';
import type { InvoiceRecord, InvoiceSnapshot } from './types.ts';

const record = (row: MonthlyInvoicesTable): InvoiceRecord => ({
  exists: true,
  month: row.month,
  customer_id: row.customer_id,
  snapshot: JSON.parse(row.snapshot) as InvoiceSnapshot,
  version: Number(row.version),
  created_at: iso(row.created_at),
  updated_at: iso(row.updated_at),
});

/**
 * Invoices per customer and month: a live preview computed from the ledger, or a stored
 * snapshot that never changes afterwards unless an admin explicitly re-snapshots it
 * (version bump, audited INVOICE_RESNAPSHOT).
 */
export class InvoiceService {
  constructor(
    private readonly db: Db,
    private readonly dialect: Dialect,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
  ) {}

  private async customer(trx: Kysely<Database>, customerId: string): Promise<Customer> {
    const row = await trx.selectFrom('customers').selectAll().where('id', '=', customerId).executeTakeFirst();
    if (!row) throw new AppError('NOT_FOUND', 'Customer not found');
    return customerFromRow(row);
  }

  /** The live invoice, computed now. */
  async live(customerId: string, month: string): Promise<InvoiceSnapshot> {
    return computeInvoice(this.db, await this.customer(this.db, customerId), month, this.clock.now());
  }

  /** The stored snapshot if there is one, else a live preview (`exists: false`). */
  async get(customerId: string, month: string): Promise<InvoiceRecord> {
    const row = await this.db.selectFrom('monthly_invoices').selectAll().where('customer_id', '=', customerId).where('month', '=', month).executeTakeFirst();
    if (row) return record(row);
    return { exists: false, month, customer_id: customerId, snapshot: await this.live(customerId, month), version: null, created_at: null, updated_at: null };
  }

  async list(customerId: string) {
    await this.customer(this.db, customerId);
    const rows = await this.db
      .selectFrom('monthly_invoices')
      .select(['month', 'version', 'grand_total_cents', 'created_at', 'updated_at', 'created_by'])
      .where('customer_id', '=', customerId)
      .orderBy('month', 'desc')
      .execute();
    return rows.map((r) => ({
      month: r.month,
      version: Number(r.version),
      grand_total_cents: Number(r.grand_total_cents),
      created_by: r.created_by,
      created_at: iso(r.created_at),
      updated_at: iso(r.updated_at),
    }));
  }

  /**
   * Store the snapshot for a month. One exists already → 409 unless `force`, which
   * replaces it, bumps its version and is audited as INVOICE_RESNAPSHOT.
   */
  async snapshot(customerId: string, month: string, opts: { force: boolean }, by: Actor): Promise<InvoiceRecord> {
    if (month > monthOf(this.clock.now())) throw new AppError('BAD_REQUEST', 'Cannot snapshot a month that has not started yet', { month });
    try {
      return await this.db.transaction().execute(async (trx) => {
        const customer = await this.customer(trx, customerId);
        const q = trx.selectFrom('monthly_invoices').selectAll().where('customer_id', '=', customerId).where('month', '=', month);
        const existing = await (this.dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirst();
        if (existing && !opts.force) {
          throw new AppError('CONFLICT', `An invoice snapshot for ${month} already exists (version ${existing.version}); re-snapshot with ?force=true`, {
            month,
            version: Number(existing.version),
          });
        }
        const now = this.clock.now();
        const snap = await computeInvoice(trx, customer, month, now);
        const json = JSON.stringify(snap);
        let row: MonthlyInvoicesTable;
        if (existing) {
          row = { ...existing, snapshot: json, version: Number(existing.version) + 1, updated_at: now, grand_total_cents: snap.totals.grand_total_cents };
          await trx
            .updateTable('monthly_invoices')
            .set({ snapshot: row.snapshot, version: row.version, updated_at: now, grand_total_cents: row.grand_total_cents })
            .where('customer_id', '=', customerId)
            .where('month', '=', month)
            .execute();
        } else {
          row = { customer_id: customerId, month, snapshot: json, version: 1, created_at: now, updated_at: now, created_by: by.actor, grand_total_cents: snap.totals.grand_total_cents };
          await trx.insertInto('monthly_invoices').values(row).execute();
        }
        await this.audit.record(
          {
            ...by,
            action: existing ? 'INVOICE_RESNAPSHOT' : 'INVOICE_SNAPSHOT',
            target: `invoice:${month}`,
            customerId,
            summary: `version=${row.version} grand_total_cents=${snap.totals.grand_total_cents}`,
            meta: existing ? { previous_totals: (JSON.parse(existing.snapshot) as InvoiceSnapshot).totals, totals: snap.totals } : { totals: snap.totals },
          },
          trx,
        );
        return record(row);
      });
    } catch (e) {
      // Two first-time snapshots racing: the loser hits the primary key.
      if (isUniqueViolation(e)) throw new AppError('CONFLICT', `An invoice snapshot for ${month} already exists; re-snapshot with ?force=true`, { month });
      throw e;
    }
  }
}
