import type pg from 'pg';
import type { Storage } from '../storage/db.ts';
import { sqliteAtomic } from './sqlite-atomic.ts';

export type DeviceOutcome = 'ok' | 'registered' | 'revoked' | 'limit';

export interface DeviceSeen {
  keyId: string;
  customerId: string;
  installId: string;
  ua: string | null;
  now: number;
  /** Seats for this key; 0 = unlimited. */
  max: number;
}

/** The atomic "a device shows up" step: touch a known device, refuse a revoked one, register a new one within the seat limit. */
export interface DeviceStore {
  seen(d: DeviceSeen): Promise<{ outcome: DeviceOutcome; active: number }>;
}

export class PostgresDeviceStore implements DeviceStore {
  constructor(private readonly pool: pg.Pool) {}

  async seen(d: DeviceSeen) {
    const r = await this.pool.query<{ o_outcome: DeviceOutcome; o_active: number | null }>({
      name: 'kaixu_device_seen',
      text: 'select o_outcome, o_active from kaixu_device_seen($1, $2, $3, $4, $5, $6)',
      values: [d.keyId, d.customerId, d.installId, d.ua, d.now, d.max],
    });
    const row = r.rows[0]!;
    return { outcome: row.o_outcome, active: Number(row.o_active ?? 0) };
  }
}

/** SQLite mirror of kaixu_device_seen: one synchronous transaction (SQLite serializes writers). */
export class SqliteDeviceStore implements DeviceStore {
  private readonly tx: (d: DeviceSeen) => { outcome: DeviceOutcome; active: number };

  constructor(private readonly storage: Storage) {
    const h = storage.sqlite!;
    const touch = h.prepare(
      'update key_devices set last_seen_at = ?, last_seen_ua = coalesce(?, last_seen_ua) where api_key_id = ? and install_id = ? and revoked_at is null',
    );
    const get = h.prepare<[string, string], { revoked_at: number | null }>('select revoked_at from key_devices where api_key_id = ? and install_id = ?');
    const count = h.prepare<[string], { n: number }>('select count(*) as n from key_devices where api_key_id = ? and revoked_at is null');
    const insert = h.prepare(
      'insert into key_devices (api_key_id, customer_id, install_id, first_seen_at, last_seen_at, last_seen_ua) values (?, ?, ?, ?, ?, ?)',
    );
    this.tx = h.transaction((d: DeviceSeen) => {
      if (touch.run(d.now, d.ua, d.keyId, d.installId).changes > 0) return { outcome: 'ok' as const, active: 0 };
      const row = get.get(d.keyId, d.installId);
      if (row) return { outcome: row.revoked_at == null ? ('ok' as const) : ('revoked' as const), active: 0 };
      if (d.max > 0) {
        const n = Number(count.get(d.keyId)!.n);
        if (n >= d.max) return { outcome: 'limit' as const, active: n };
      }
      insert.run(d.keyId, d.customerId, d.installId, d.now, d.now, d.ua);
      return { outcome: 'registered' as const, active: 0 };
    });
  }

  seen(d: DeviceSeen) {
    return sqliteAtomic(this.storage, () => this.tx(d));
  }

  /** The same step, synchronously, for a caller already inside sqliteAtomic (caps/sqlite.ts). */
  seenSync(d: DeviceSeen): { outcome: DeviceOutcome; active: number } {
    return this.tx(d);
  }
}
