import { sql, type Updateable } from 'kysely';
import type { AuditLog } from '../audit/audit.ts';
import type { InvalidationBus } from '../cluster/invalidation.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { isUniqueViolation, type Db } from '../storage/db.ts';
import type { CustomersTable } from '../storage/types.ts';
import type { Actor, IssuedKey, KeyService } from '../keys/service.ts';
import { customerFromRow, type Customer, type ModelAllowlist } from '../keys/policy.ts';

export interface CustomerPolicy {
  email?: string;
  plan?: string;
  monthly_cap_cents?: number;
  is_active?: boolean;
  cap_mode?: 'hard' | 'soft';
  max_devices_per_key?: number | null;
  require_install_id?: boolean;
  allowed_providers?: string[] | null;
  allowed_models?: ModelAllowlist | null;
  rpm_limit?: number | null;
  rpd_limit?: number | null;
}

function policyToRow(p: CustomerPolicy): Updateable<CustomersTable> {
  const row: Updateable<CustomersTable> = {};
  if (p.email !== undefined) row.email = p.email.toLowerCase();
  if (p.plan !== undefined) row.plan = p.plan;
  if (p.monthly_cap_cents !== undefined) row.monthly_cap_cents = p.monthly_cap_cents;
  if (p.is_active !== undefined) row.is_active = p.is_active ? 1 : 0;
  if (p.cap_mode !== undefined) row.cap_mode = p.cap_mode;
  if (p.max_devices_per_key !== undefined) row.max_devices_per_key = p.max_devices_per_key;
  if (p.require_install_id !== undefined) row.require_install_id = p.require_install_id ? 1 : 0;
  if (p.allowed_providers !== undefined) row.allowed_providers = p.allowed_providers == null ? null : JSON.stringify(p.allowed_providers);
  if (p.allowed_models !== undefined) row.allowed_models = p.allowed_models == null ? null : JSON.stringify(p.allowed_models);
  if (p.rpm_limit !== undefined) row.rpm_limit = p.rpm_limit;
  if (p.rpd_limit !== undefined) row.rpd_limit = p.rpd_limit;
  return row;
}

export type CustomerWithKeys = Customer & { active_keys: number };

export class CustomerService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly bus: InvalidationBus,
    private readonly keys: KeyService,
    private readonly defaults: { capCents: number },
  ) {}

  /** Create a customer and issue its master key (role owner) in one transaction. */
  async create(input: CustomerPolicy & { email: string }, by: Actor): Promise<{ customer: Customer; master: IssuedKey }> {
    try {
      return await this.db.transaction().execute(async (trx) => {
        const now = this.clock.now();
        const row: CustomersTable = {
          id: newId('cus'),
          email: input.email.toLowerCase(),
          plan: input.plan ?? 'starter',
          monthly_cap_cents: input.monthly_cap_cents ?? this.defaults.capCents,
          is_active: input.is_active === false ? 0 : 1,
          cap_mode: input.cap_mode ?? 'hard',
          max_devices_per_key: input.max_devices_per_key ?? null,
          require_install_id: input.require_install_id ? 1 : 0,
          allowed_providers: input.allowed_providers ? JSON.stringify(input.allowed_providers) : null,
          allowed_models: input.allowed_models ? JSON.stringify(input.allowed_models) : null,
          rpm_limit: input.rpm_limit ?? null,
          rpd_limit: input.rpd_limit ?? null,
          created_at: now,
          updated_at: now,
        };
        await trx.insertInto('customers').values(row).execute();
        const master = await this.keys.issueIn(trx, row.id, 'master', { label: 'master', role: 'owner' });
        await this.audit.record({ ...by, action: 'CUSTOMER_CREATE', target: `customer:${row.id}`, customerId: row.id, summary: `plan=${row.plan} cap=${row.monthly_cap_cents}` }, trx);
        await this.audit.record({ ...by, action: 'KEY_CREATE', target: `key:${master.api_key.id}`, customerId: row.id, summary: 'master key (owner)' }, trx);
        return { customer: customerFromRow(row), master };
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new AppError('EMAIL_TAKEN', 'A customer with this email already exists', { field: 'email' });
      throw e;
    }
  }

  async get(id: string): Promise<Customer | null> {
    const r = await this.db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? customerFromRow(r) : null;
  }

  async getByEmail(email: string): Promise<Customer | null> {
    const r = await this.db.selectFrom('customers').selectAll().where('email', '=', email.toLowerCase()).executeTakeFirst();
    return r ? customerFromRow(r) : null;
  }

  async list(opts: { limit: number; offset: number; q?: string; active?: boolean }): Promise<{ customers: CustomerWithKeys[]; total: number }> {
    let base = this.db.selectFrom('customers');
    if (opts.q) base = base.where('email', 'like', `%${opts.q.toLowerCase()}%`);
    if (opts.active !== undefined) base = base.where('is_active', '=', opts.active ? 1 : 0);
    const [rows, total] = await Promise.all([
      base
        .selectAll('customers')
        .select((eb) =>
          eb
            .selectFrom('api_keys')
            .select(sql<number>`count(*)`.as('n'))
            .whereRef('api_keys.customer_id', '=', 'customers.id')
            .where('api_keys.revoked_at', 'is', null)
            .as('active_keys'),
        )
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(opts.limit)
        .offset(opts.offset)
        .execute(),
      base.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow(),
    ]);
    return {
      customers: rows.map((r) => ({ ...customerFromRow(r), active_keys: Number(r.active_keys ?? 0) })),
      total: Number(total.n),
    };
  }

  async update(id: string, p: CustomerPolicy, by: Actor): Promise<Customer> {
    try {
      const out = await this.db.transaction().execute(async (trx) => {
        const res = await trx.updateTable('customers').set({ ...policyToRow(p), updated_at: this.clock.now() }).where('id', '=', id).executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) throw new AppError('NOT_FOUND', 'Customer not found');
        const row = await trx.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
        await this.bus.record(trx, 'customer', id);
        const action = p.is_active === false && Object.keys(p).length === 1 ? 'CUSTOMER_DEACTIVATE' : 'CUSTOMER_UPDATE';
        await this.audit.record({ ...by, action, target: `customer:${id}`, customerId: id, summary: Object.keys(p).join(','), meta: { changes: p } }, trx);
        return customerFromRow(row);
      });
      await this.bus.emit('customer', id);
      return out;
    } catch (e) {
      if (isUniqueViolation(e)) throw new AppError('EMAIL_TAKEN', 'A customer with this email already exists', { field: 'email' });
      throw e;
    }
  }

  deactivate(id: string, by: Actor): Promise<Customer> {
    return this.update(id, { is_active: false }, by);
  }
}
