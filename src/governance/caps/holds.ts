import { resolve } from 'node:path';
import type SQLite from 'better-sqlite3';
import type { HeldReservation, MemoryHolds } from './types.ts';

/**
 * Cap reservations held in process memory (SQLite: one node, see caps/sqlite.ts). Every change
 * is synchronous, so a check-and-hold against these sums is atomic on the event loop.
 */
export class HoldBook implements MemoryHolds {
  private readonly byId = new Map<string, HeldReservation>();
  private readonly perCustomer = new Sums();
  private readonly perKey = new Sums();

  get size(): number {
    return this.byId.size;
  }

  customer(customerId: string, month: string): number {
    return this.perCustomer.get(customerId, month);
  }

  key(keyId: string, month: string): number {
    return this.perKey.get(keyId, month);
  }

  add(h: HeldReservation): void {
    this.byId.set(h.id, h);
    this.perCustomer.bump(h.customerId, h.month, h.amount);
    this.perKey.bump(h.keyId, h.month, h.amount);
  }

  /** Drop a hold; returns its amount (0 when it was already gone). */
  remove(id: string): number {
    const h = this.byId.get(id);
    if (!h) return 0;
    this.byId.delete(id);
    this.perCustomer.bump(h.customerId, h.month, -h.amount);
    this.perKey.bump(h.keyId, h.month, -h.amount);
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

/**
 * Held µ$ per id (customer or key) and month, as id → month → amount. Nested rather than keyed by
 * one joined string: a lookup hashes the two strings the caller already holds (the id from the
 * key's cached auth context, whose hash V8 keeps on the string) instead of building, flattening
 * and hashing a new ~40-character key each time — six times per call. An id's entry goes when its
 * last month does, so the book holds only what is held.
 */
class Sums {
  private readonly byId = new Map<string, Map<string, number>>();

  get(id: string, month: string): number {
    return this.byId.get(id)?.get(month) ?? 0;
  }

  bump(id: string, month: string, by: number): void {
    let months = this.byId.get(id);
    if (!months) this.byId.set(id, (months = new Map()));
    const v = (months.get(month) ?? 0) + by;
    if (v !== 0) months.set(month, v);
    else if (months.delete(month) && months.size === 0) this.byId.delete(id);
  }
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
