import { PostgresAdapter, type Kysely, type Updateable } from 'kysely';
import type { AuditLog } from '../audit/audit.ts';
import type { InvalidationBus } from '../cluster/invalidation.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import type { Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import type { ApiKeysTable, Database } from '../storage/types.ts';
import { mintKey, type Role } from './key-material.ts';
import { keyFromRow, type ApiKey, type ModelAllowlist } from './policy.ts';

export interface KeyOverrides {
  label?: string;
  role?: Role;
  monthly_cap_cents?: number | null;
  rpm_limit?: number | null;
  rpd_limit?: number | null;
  max_devices?: number | null;
  require_install_id?: boolean | null;
  allowed_providers?: string[] | null;
  allowed_models?: ModelAllowlist | null;
}

/** Restrict an operation to one customer's keys (tenancy): a key outside it is "not found". */
export interface KeyScope {
  customerId?: string;
}

const inScope = (row: { customer_id: string }, scope: KeyScope) => scope.customerId === undefined || row.customer_id === scope.customerId;

export interface Actor {
  actor: string;
  ip?: string | null;
}

const jsonOrNull = (v: unknown) => (v == null ? null : JSON.stringify(v));
const boolOrNull = (v: boolean | null | undefined) => (v == null ? null : v ? 1 : 0);

function overridesToRow(o: KeyOverrides): Updateable<ApiKeysTable> {
  const row: Updateable<ApiKeysTable> = {};
  if (o.label !== undefined) row.label = o.label;
  if (o.role !== undefined) row.role = o.role;
  if (o.monthly_cap_cents !== undefined) row.monthly_cap_cents = o.monthly_cap_cents;
  if (o.rpm_limit !== undefined) row.rpm_limit = o.rpm_limit;
  if (o.rpd_limit !== undefined) row.rpd_limit = o.rpd_limit;
  if (o.max_devices !== undefined) row.max_devices = o.max_devices;
  if (o.require_install_id !== undefined) row.require_install_id = boolOrNull(o.require_install_id);
  if (o.allowed_providers !== undefined) row.allowed_providers = jsonOrNull(o.allowed_providers);
  if (o.allowed_models !== undefined) row.allowed_models = jsonOrNull(o.allowed_models);
  return row;
}

export interface IssuedKey {
  key: string;
  api_key: ApiKey;
}

/** Virtual keys: issue, list, update, rotate, revoke. The key string exists only in the return value of issue/rotate. */
export class KeyService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly pepper: string,
    private readonly audit: AuditLog,
    private readonly bus: InvalidationBus,
  ) {
    this.pg = db.getExecutor().adapter instanceof PostgresAdapter;
  }

  /** PostgreSQL needs row locks (FOR UPDATE); SQLite transactions already hold the one write lock. */
  private readonly pg: boolean;

  /** Insert a new key inside a caller's transaction (customer creation, self-service). */
  async issueIn(trx: Kysely<Database>, customerId: string, kind: string, o: KeyOverrides & { rotated_from?: string }): Promise<IssuedKey> {
    const minted = mintKey(this.pepper);
    const now = this.clock.now();
    const row: ApiKeysTable = {
      id: newId('key'),
      customer_id: customerId,
      key_hash: minted.hash,
      key_last4: minted.last4,
      label: o.label ?? 'subkey',
      role: o.role ?? 'deployer',
      kind,
      monthly_cap_cents: o.monthly_cap_cents ?? null,
      rpm_limit: o.rpm_limit ?? null,
      rpd_limit: o.rpd_limit ?? null,
      max_devices: o.max_devices ?? null,
      require_install_id: boolOrNull(o.require_install_id),
      allowed_providers: jsonOrNull(o.allowed_providers),
      allowed_models: jsonOrNull(o.allowed_models),
      created_at: now,
      updated_at: now,
      revoked_at: null,
      last_seen_at: null,
      rotated_from: o.rotated_from ?? null,
    };
    await trx.insertInto('api_keys').values(row).execute();
    return { key: minted.key, api_key: keyFromRow(row) };
  }

  async create(customerId: string, o: KeyOverrides, by: Actor): Promise<IssuedKey> {
    return this.db.transaction().execute(async (trx) => {
      const cust = await trx.selectFrom('customers').select('id').where('id', '=', customerId).executeTakeFirst();
      if (!cust) throw new AppError('NOT_FOUND', 'Customer not found');
      const issued = await this.issueIn(trx, customerId, 'sub', o);
      await this.audit.record(
        { ...by, action: 'KEY_CREATE', target: `key:${issued.api_key.id}`, customerId, summary: `label=${issued.api_key.label} role=${issued.api_key.role}` },
        trx,
      );
      return issued;
    });
  }

  async get(keyId: string, scope: KeyScope = {}): Promise<ApiKey | null> {
    const r = await this.db.selectFrom('api_keys').selectAll().where('id', '=', keyId).executeTakeFirst();
    return r && inScope(r, scope) ? keyFromRow(r) : null;
  }

  async listForCustomer(customerId: string, opts: { includeRevoked?: boolean; limit: number; offset: number }) {
    let q = this.db.selectFrom('api_keys').selectAll().where('customer_id', '=', customerId);
    if (!opts.includeRevoked) q = q.where('revoked_at', 'is', null);
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).offset(opts.offset).execute();
    return rows.map(keyFromRow);
  }

  /** The key row, locked against concurrent changes for the rest of the transaction; NOT_FOUND outside the scope. */
  private async lockedRow(trx: Kysely<Database>, keyId: string, scope: KeyScope): Promise<ApiKeysTable> {
    const q = trx.selectFrom('api_keys').selectAll().where('id', '=', keyId);
    const row = await (this.pg ? q.forUpdate() : q).executeTakeFirst();
    if (!row || !inScope(row, scope)) throw new AppError('NOT_FOUND', 'Key not found');
    return row;
  }

  async update(keyId: string, o: KeyOverrides, by: Actor, scope: KeyScope = {}): Promise<ApiKey> {
    const key = await this.db.transaction().execute(async (trx) => {
      const old = await this.lockedRow(trx, keyId, scope);
      const patch = { ...overridesToRow(o), updated_at: this.clock.now() };
      await trx.updateTable('api_keys').set(patch).where('id', '=', keyId).execute();
      const row = { ...old, ...patch } as ApiKeysTable;
      await this.bus.record(trx, 'key', keyId);
      await this.audit.record(
        { ...by, action: 'KEY_UPDATE', target: `key:${keyId}`, customerId: row.customer_id, summary: Object.keys(o).join(','), meta: { changes: o } },
        trx,
      );
      return keyFromRow(row);
    });
    await this.bus.emit('key', keyId);
    return key;
  }

  /** Revoke a key (idempotent: a revoked key stays revoked, without a second audit event). */
  async revoke(keyId: string, by: Actor, action = 'KEY_REVOKE', scope: KeyScope = {}): Promise<ApiKey> {
    const key = await this.db.transaction().execute(async (trx) => {
      const row = await this.lockedRow(trx, keyId, scope);
      if (row.revoked_at == null) {
        const now = this.clock.now();
        await trx.updateTable('api_keys').set({ revoked_at: now, updated_at: now }).where('id', '=', keyId).execute();
        row.revoked_at = now;
        row.updated_at = now;
        await this.bus.record(trx, 'key', keyId);
        await this.audit.record({ ...by, action, target: `key:${keyId}`, customerId: row.customer_id, summary: `last4=${row.key_last4}` }, trx);
      }
      return keyFromRow(row);
    });
    await this.bus.emit('key', keyId);
    return key;
  }

  /**
   * New key with the same settings; the old one is revoked in the same transaction.
   * The old row is locked (PostgreSQL) or the write lock is held (SQLite), so two concurrent
   * rotations of one key yield one successor and a 409 for the other.
   */
  async rotate(keyId: string, by: Actor, scope: KeyScope = {}): Promise<{ old_key_id: string } & IssuedKey> {
    const out = await this.db.transaction().execute(async (trx) => {
      const old = await this.lockedRow(trx, keyId, scope);
      if (old.revoked_at != null) throw new AppError('CONFLICT', 'Key is already revoked; issue a new key instead');
      const now = this.clock.now();
      await trx.updateTable('api_keys').set({ revoked_at: now, updated_at: now }).where('id', '=', keyId).execute();
      const prev = keyFromRow(old);
      const issued = await this.issueIn(trx, old.customer_id, old.kind, {
        label: prev.label,
        role: prev.role as Role,
        monthly_cap_cents: prev.monthly_cap_cents,
        rpm_limit: prev.rpm_limit,
        rpd_limit: prev.rpd_limit,
        max_devices: prev.max_devices,
        require_install_id: prev.require_install_id,
        allowed_providers: prev.allowed_providers,
        allowed_models: prev.allowed_models,
        rotated_from: keyId,
      });
      await this.bus.record(trx, 'key', keyId);
      await this.audit.record(
        { ...by, action: 'KEY_ROTATE', target: `key:${keyId}`, customerId: old.customer_id, summary: `new=${issued.api_key.id} last4=${issued.api_key.key_last4}` },
        trx,
      );
      return { old_key_id: keyId, ...issued };
    });
    await this.bus.emit('key', keyId);
    return out;
  }
}
