import { describe, expect, it } from 'vitest';
import { HoldBook } from '../../src/governance/caps/holds.ts';
import type { HeldReservation } from '../../src/governance/caps/types.ts';

let n = 0;
const hold = (customerId: string, keyId: string, month: string, amount: number): HeldReservation => ({
  id: `res_${++n}`,
  customerId,
  keyId,
  month,
  amount,
  requestId: `req_${n}`,
  createdAt: 1_000,
  expiresAt: 1_000 + n,
});

describe('HoldBook: reservations held in process memory (SQLite)', () => {
  it('sums per customer and month and per key and month, and forgets what it released', () => {
    const b = new HoldBook();
    const a1 = hold('cus_a', 'key_1', '2026-07', 300);
    const a2 = hold('cus_a', 'key_2', '2026-07', 50);
    const a3 = hold('cus_a', 'key_1', '2026-08', 7);
    const b1 = hold('cus_b', 'key_9', '2026-07', 1_000);
    for (const h of [a1, a2, a3, b1]) b.add(h);
    expect(b.size).toBe(4);
    expect(b.customer('cus_a', '2026-07')).toBe(350);
    expect(b.customer('cus_a', '2026-08')).toBe(7);
    expect(b.customer('cus_b', '2026-07')).toBe(1_000);
    expect(b.key('key_1', '2026-07')).toBe(300);
    expect(b.key('key_1', '2026-08')).toBe(7);
    expect(b.key('key_2', '2026-07')).toBe(50);
    // Ids are not confused across the two books, nor with a month of another id.
    expect(b.customer('key_1', '2026-07')).toBe(0);
    expect(b.key('cus_a', '2026-07')).toBe(0);
    expect(b.customer('cus_b', '2026-08')).toBe(0);

    expect(b.remove(a1.id)).toBe(300);
    expect(b.remove(a1.id)).toBe(0);
    expect(b.remove('res_unknown')).toBe(0);
    expect(b.customer('cus_a', '2026-07')).toBe(50);
    expect(b.key('key_1', '2026-07')).toBe(0);
    expect(b.list({ customerId: 'cus_a' }).map((h) => h.id)).toEqual([a2.id, a3.id]);
    expect(b.list({ requestId: b1.requestId })).toEqual([b1]);
    expect(b.expired(1_000 + a3.expiresAt, 10).sort()).toEqual([a2.id, a3.id, b1.id].sort());
    expect(b.expired(1_000 + a3.expiresAt, 1)).toHaveLength(1);

    for (const h of [a2, a3, b1]) b.remove(h.id);
    expect(b.size).toBe(0);
    expect(b.customer('cus_a', '2026-07') + b.customer('cus_a', '2026-08') + b.key('key_2', '2026-07') + b.key('key_9', '2026-07')).toBe(0);
  });

  it('a hold of zero, and holds that cancel out, leave the sums at zero', () => {
    const b = new HoldBook();
    const z = hold('cus_z', 'key_z', '2026-07', 0);
    b.add(z);
    expect(b.customer('cus_z', '2026-07')).toBe(0);
    const x = hold('cus_z', 'key_z', '2026-07', 40);
    b.add(x);
    expect(b.customer('cus_z', '2026-07')).toBe(40);
    expect(b.remove(z.id)).toBe(0);
    expect(b.customer('cus_z', '2026-07')).toBe(40);
    expect(b.remove(x.id)).toBe(40);
    expect(b.key('key_z', '2026-07')).toBe(0);
  });
});
