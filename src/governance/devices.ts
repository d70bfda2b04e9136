import { sql } from 'kysely';
import type { AuditLog } from '../audit/audit.ts';
import type { InvalidationBus } from '../cluster/invalidation.ts';
import type { Clock } from '../lib/clock.ts';
import { iso } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import type { Storage } from '../storage/db.ts';
import { PostgresDeviceStore, SqliteDeviceStore, type DeviceOutcome, type DeviceSeen, type DeviceStore } from './device-store.ts';

export const MAX_INSTALL_ID = 80;
const UA_MAX = 240;

export const DEVICE_MESSAGES = {
  missing: 'Missing x-kaixu-install-id (required for this key)',
  revoked: 'Device revoked for this key',
  limit: (n: number, max: number) => `Device limit reached (${n}/${max}). Revoke an old device or raise seats.`,
} as const;

export interface DevicePolicy {
  requireInstallId: boolean;
  maxDevices: number | null;
}

export interface DeviceKey {
  keyId: string;
  customerId: string;
}

export interface DevicePlan {
  installId: string | null;
  /** Set when the database must see the device (register, refuse, or the periodic touch). */
  step: DeviceSeen | null;
}

export interface DeviceView {
  api_key_id: string;
  key_last4: string;
  key_label: string;
  install_id: string;
  device_label: string | null;
  first_seen_at: string | null;
  last_seen_at: string | null;
  last_seen_ua: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

/**
 * Device seats per key (x-kaixu-install-id). Known-good devices are remembered in memory and
 * touched in the database at most once per `touchEveryMs`, so a steady client costs no query.
 * Revocation still holds: this node drops its memory synchronously on revoke (and other nodes on
 * the 'key' invalidation), and the cap reservation re-checks the device inside its own statement.
 */
export class DeviceRegistry {
  private known = new Map<string, number>();
  private readonly store: DeviceStore;

  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly bus: InvalidationBus,
    private readonly touchEveryMs = 60_000,
  ) {
    this.store = storage.dialect === 'postgres' ? new PostgresDeviceStore(storage.pool!) : new SqliteDeviceStore(storage);
    bus.on((kind, target) => {
      if (kind === 'key') this.forgetKey(target);
      else if (kind === 'all') this.known.clear();
    });
  }

  forgetKey(keyId: string): void {
    const prefix = `${keyId}\u0000`;
    for (const k of this.known.keys()) if (k.startsWith(prefix)) this.known.delete(k);
  }

  /** Normalize the header value: trimmed, ≤ 80 characters, '' → none. */
  static normalize(raw: string | undefined | null): string | null {
    const v = raw?.trim();
    if (!v) return null;
    if (v.length > MAX_INSTALL_ID) throw new AppError('BAD_REQUEST', `Invalid x-kaixu-install-id (at most ${MAX_INSTALL_ID} characters)`);
    return v;
  }

  /**
   * The seat check's first half: normalize the install id, refuse a missing one when required,
   * and say whether the database must see the device (`step`: unknown on this node, or its
   * once-a-minute touch is due). A known device needs no step: the reservation re-checks that it
   * was not revoked, inside its own statement.
   */
  prepare(k: DeviceKey, policy: DevicePolicy, rawInstallId: string | undefined, ua: string | undefined, now: number): DevicePlan {
    const installId = DeviceRegistry.normalize(rawInstallId);
    const max = policy.maxDevices != null && policy.maxDevices > 0 ? policy.maxDevices : 0;
    if (!installId) {
      if (policy.requireInstallId || max > 0) throw new AppError('MISSING_INSTALL_ID', DEVICE_MESSAGES.missing);
      return { installId: null, step: null };
    }
    const last = this.known.get(`${k.keyId}\u0000${installId}`);
    if (last !== undefined && now - last < this.touchEveryMs) return { installId, step: null };
    return { installId, step: { keyId: k.keyId, customerId: k.customerId, installId, ua: ua ? ua.slice(0, UA_MAX) : null, now, max } };
  }

  /** The second half: the outcome of the step (run alone, or folded into the reservation). Throws the seed refusals. */
  apply(step: DeviceSeen, r: { outcome: DeviceOutcome; active: number }): void {
    const ck = `${step.keyId}\u0000${step.installId}`;
    if (r.outcome === 'revoked') {
      this.known.delete(ck);
      throw new AppError('DEVICE_REVOKED', DEVICE_MESSAGES.revoked);
    }
    if (r.outcome === 'limit') throw new AppError('DEVICE_LIMIT', DEVICE_MESSAGES.limit(r.active, step.max));
    if (this.known.size > 100_000) this.known.clear();
    this.known.set(ck, step.now);
  }

  /** Run a prepared step in the database (its own atomic statement). */
  seen(step: DeviceSeen): Promise<{ outcome: DeviceOutcome; active: number }> {
    return this.store.seen(step);
  }

  /** The seat check of a data-plane call, as its own step. Returns the normalized install id (or null). */
  async admit(k: DeviceKey, policy: DevicePolicy, rawInstallId: string | undefined, ua: string | undefined): Promise<string | null> {
    const plan = this.prepare(k, policy, rawInstallId, ua, this.clock.now());
    if (plan.step) this.apply(plan.step, await this.seen(plan.step));
    return plan.installId;
  }

  async list(opts: { customerId: string; keyId?: string; limit: number }): Promise<DeviceView[]> {
    let q = this.storage.db
      .selectFrom('key_devices as d')
      .innerJoin('api_keys as k', 'k.id', 'd.api_key_id')
      .select([
        'd.api_key_id',
        'k.key_last4',
        'k.label as key_label',
        'd.install_id',
        'd.device_label',
        'd.first_seen_at',
        'd.last_seen_at',
        'd.last_seen_ua',
        'd.revoked_at',
        'd.revoked_by',
      ])
      .where('d.customer_id', '=', opts.customerId);
    if (opts.keyId) q = q.where('d.api_key_id', '=', opts.keyId);
    const rows = await q.orderBy('d.last_seen_at', 'desc').orderBy('d.install_id').limit(opts.limit).execute();
    return rows.map((r) => ({
      ...r,
      first_seen_at: iso(r.first_seen_at),
      last_seen_at: iso(r.last_seen_at),
      revoked_at: iso(r.revoked_at),
    }));
  }

  /**
   * Revoke or restore a device of a key that belongs to `customerId` (404 otherwise). Restoring
   * respects the seat limit, like registering a new device would.
   */
  async setRevoked(
    input: { customerId: string; keyId: string; installId: string; revoked: boolean; maxDevices: number | null },
    by: { actor: string; ip?: string | null; revokedBy: string },
  ): Promise<DeviceView> {
    await this.storage.db.transaction().execute(async (trx) => {
      if (this.storage.dialect === 'postgres') {
        await sql`select pg_advisory_xact_lock(hashtextextended(${'kaixu_dev:' + input.keyId}, 0))`.execute(trx);
      }
      const dev = await trx
        .selectFrom('key_devices')
        .select(['revoked_at'])
        .where('api_key_id', '=', input.keyId)
        .where('install_id', '=', input.installId)
        .where('customer_id', '=', input.customerId)
        .executeTakeFirst();
      if (!dev) throw new AppError('NOT_FOUND', 'Device not found for this key');
      if ((dev.revoked_at != null) === input.revoked) return;
      const now = this.clock.now();
      if (!input.revoked && input.maxDevices != null && input.maxDevices > 0) {
        const n = await trx
          .selectFrom('key_devices')
          .select(sql<number>`count(*)`.as('n'))
          .where('api_key_id', '=', input.keyId)
          .where('revoked_at', 'is', null)
          .executeTakeFirstOrThrow();
        if (Number(n.n) >= input.maxDevices) throw new AppError('DEVICE_LIMIT', DEVICE_MESSAGES.limit(Number(n.n), input.maxDevices));
      }
      await trx
        .updateTable('key_devices')
        .set(input.revoked ? { revoked_at: now, revoked_by: by.revokedBy } : { revoked_at: null, revoked_by: null })
        .where('api_key_id', '=', input.keyId)
        .where('install_id', '=', input.installId)
        .execute();
      await this.bus.record(trx, 'key', input.keyId);
      await this.audit.record(
        {
          actor: by.actor,
          ip: by.ip,
          action: input.revoked ? 'DEVICE_REVOKE' : 'DEVICE_UNREVOKE',
          target: `key:${input.keyId}`,
          customerId: input.customerId,
          summary: `install_id=${input.installId}`,
          meta: { install_id: input.installId, revoked_by: by.revokedBy },
        },
        trx,
      );
    });
    this.forgetKey(input.keyId);
    await this.bus.emit('key', input.keyId);
    const view = (await this.list({ customerId: input.customerId, keyId: input.keyId, limit: 500 })).find((d) => d.install_id === input.installId);
    return view!;
  }
}
