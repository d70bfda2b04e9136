import type { AdmitInput, CallContext } from '../../src/gateway/governance.ts';
import type { AuthContext } from '../../src/keys/auth.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import type { Dialect } from '../../src/storage/db.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

/** 1 µ$ per token in and out: a call bounded by 4 000 + 6 000 tokens reserves exactly 1 ¢. */
export const TEST_PRICE = { provider: 'testco', model: 'tok-1', input_micros_per_m: 1_000_000, output_micros_per_m: 1_000_000, markup_bp: 0 };
export const TARGET = { provider: TEST_PRICE.provider, model: TEST_PRICE.model };
export const ONE_CENT_CALL: AdmitInput = { targets: [TARGET], inputTokensUpperBound: 4_000, maxOutputTokens: 6_000 };

export interface GovApp extends TestApp {
  clock: ManualClock;
  auth(key: string): Promise<AuthContext>;
  ctx(auth: AuthContext, o?: Partial<CallContext>): CallContext;
}

let rq = 0;

/** A test app on a fresh DB with a manual clock (2026-01-15 12:00 UTC) and the test price installed. */
export async function makeGovApp(dialect: Dialect, env: Record<string, string> = {}, clock = new ManualClock(Date.UTC(2026, 0, 15, 12))): Promise<GovApp> {
  const t = await makeTestApp(dialect, { clock, env });
  await t.c.gov.pricing.upsert(TEST_PRICE, { actor: 'test' });
  return Object.assign(t, {
    clock,
    auth: (key: string) => t.c.keyAuth.authenticate(`Bearer ${key}`),
    ctx: (auth: AuthContext, o: Partial<CallContext> = {}): CallContext => ({
      auth,
      requestId: `req_test_${++rq}`,
      publicProvider: TARGET.provider,
      publicModel: TARGET.model,
      ip: '203.0.113.7',
      userAgent: 'vitest',
      kind: 'chat',
      ...o,
    }),
  });
}

/** The AppError fields of a rejected promise. */
export async function rejection(p: Promise<unknown>): Promise<{ code: string; status: number; message: string; details: Record<string, unknown>; headers: Record<string, string> }> {
  try {
    await p;
  } catch (e) {
    return e as never;
  }
  throw new Error('expected a rejection');
}

export async function usageRows(t: TestApp, customerId: string, month = '2026-01') {
  const db = t.c.storage.db;
  const cu = await db.selectFrom('monthly_usage').selectAll().where('customer_id', '=', customerId).where('month', '=', month).executeTakeFirst();
  const events = await db.selectFrom('usage_events').selectAll().where('customer_id', '=', customerId).where('month', '=', month).execute();
  const reservations = await t.c.gov.caps.reservations({ customerId });
  return {
    spent: Number(cu?.spent_micros ?? 0),
    reserved: await reservedMicros(t, customerId, month),
    calls: Number(cu?.calls ?? 0),
    events,
    eventCost: events.reduce((a, e) => a + Number(e.cost_micros), 0),
    reservations,
  };
}

/**
 * µ$ held by cap reservations for a customer's month: the monthly row's reserved_micros
 * (PostgreSQL) plus the holds the cap store keeps in memory (SQLite, one node).
 */
export async function reservedMicros(t: TestApp, customerId: string, month = '2026-01'): Promise<number> {
  const cu = await t.c.storage.db.selectFrom('monthly_usage').select('reserved_micros').where('customer_id', '=', customerId).where('month', '=', month).executeTakeFirst();
  return Number(cu?.reserved_micros ?? 0) + (t.c.gov.caps.memoryHolds?.customer(customerId, month) ?? 0);
}
