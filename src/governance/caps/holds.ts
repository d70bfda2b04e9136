import { resolve } from 'node:path';
import type SQLite from 'better-sqlite3';
import type { HeldReservation, MemoryHolds } from './types.ts';

const k = (id: string, month: string) => `${id}\u0000${month}`;

/**
 * Cap reservations held in process memory (SQLite: one node, see caps/sqlite.ts). Every change
 * is synchronous, so a check-and-hold against these sums is atomic on the event loop.
 */
export class HoldBook implements MemoryHolds {
  private readonly byId = new Map<string, HeldReservation>();
  private readonly perCustomer = new Map<string, number>();
  private readonly perKey = new Map<string, number>();

  get size(): number {
    return this.byId.size;
  }

  customer(customerId: string, month: string): number {
    return this.perCustomer.get(k(customerId, month)) ?? 0;
  }

  key(keyId: string, month: string): number {
    return this.perKey.get(k(keyId, month)) ?? 0;
  }

  add(h: HeldReservation): void {
    this.byId.set(h.id, h);
    bump(this.perCustomer, k(h.customerId, h.month), h.amount);
    bump(this.perKey, k(h.keyId, h.month), h.amount);
  }

  /** Drop a hold; returns its amount (0 when it was already gone). */
  remove(id: string): number {
    const h = this.byId.get(id);
    if (!h) return 0;
    this.byId.delete(id);
    bump(this.perCustomer, k(h.customerId, h.month), -h.amount);
    bump(this.perKey, k(h.keyId, h.month), -h.amount);
    return h.amount;
  }

  expired(now: number, limit: number): string[] {
    const out: string[] = [];
    for (const h of this.byId.values()) {
      if (h.expiresAt < now) out.push(h.id);
      if (out.length >= limit) break;
    }
    return out;
  }

  list(f: { customerId?: string; requestId?: string }): HeldReservation[] {
    return [...this.byId.values()].filter((h) => (!f.customerId || h.customerId === f.customerId) && (!f.requestId || h.requestId === f.requestId));
  }
}

function bump(m: Map<string, number>, key: string, by: number) {
  const v = (m.get(key) ?? 0) + by;
  if (v === 0) m.delete(key);
  else m.set(key, v);
}

const byFile = new Map<string, { book: HoldBook; users: number }>();
const byHandle = new WeakMap<SQLite.Database, HoldBook>();

/**
 * The holds of one SQLite database in this process: every cap store (container) on the same
 * file shares one book, so caps stay hard even when one process opens the file twice (tests
 * that model two nodes do). An in-memory database is private to its handle. Call the returned
 * `detach` on close: when the last user of a file detaches, its holds go, as in a restart.
 */
export function holdBookFor(h: SQLite.Database): { book: HoldBook; detach(): void } {
  if (h.memory) {
    let book = byHandle.get(h);
    if (!book) byHandle.set(h, (book = new HoldBook()));
    return { book, detach: () => undefined };
  }
  const file = resolve(h.name);
  let e = byFile.get(file);
  if (!e) byFile.set(file, (e = { book: new HoldBook(), users: 0 }));
  e.users++;
  let attached = true;
  const entry = e;
  return {
    book: e.book,
    detach() {
      if (!attached) return;
      attached = false;
      if (--entry.users === 0 && byFile.get(file) === entry) byFile.delete(file);
    },
  };
}
