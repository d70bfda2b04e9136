import type { AuditLog } from '../audit/audit.ts';
import type { InvalidationBus } from '../cluster/invalidation.ts';
import type { Clock } from '../lib/clock.ts';
import { iso } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import type { Db } from '../storage/db.ts';
import type { PricingTable } from '../storage/types.ts';
import type { Actor } from '../keys/service.ts';

/** Price of one (provider, model): integer micro-dollars per 1M tokens plus a markup in basis points (the table row). */
export type Price = PricingTable;
export type PriceInput = Omit<Price, 'updated_at' | 'updated_by'>;

const keyOf = (provider: string, model: string) => `${provider}\u0000${model}`;

const fromRow = (r: PricingTable): Price => ({
  provider: r.provider,
  model: r.model,
  input_micros_per_m: Number(r.input_micros_per_m),
  output_micros_per_m: Number(r.output_micros_per_m),
  markup_bp: Number(r.markup_bp),
  updated_at: Number(r.updated_at),
  updated_by: r.updated_by,
});

const ceilDiv = (a: number, b: number): number => {
  const r = a % b;
  return (a - r) / b + (r > 0 ? 1 : 0);
};

/**
 * Exact cost of a call at a price, in µ$: tokens × µ$-per-1M × (1 + markup), rounded up once to
 * the next µ$. Integer arithmetic throughout (BigInt when a product would pass 2^53), so the
 * ledger never depends on floating-point rounding — unlike lib/money costMicros, which divides
 * doubles.
 */
export function priceCost(p: Price, inputTokens: number, outputTokens: number): number {
  const raw = inputTokens * p.input_micros_per_m + outputTokens * p.output_micros_per_m;
  const num = p.markup_bp ? raw * (10_000 + p.markup_bp) : raw;
  const den = p.markup_bp ? 10_000_000_000 : 1_000_000;
  if (Number.isSafeInteger(num)) return ceilDiv(num, den);
  const bRaw = BigInt(inputTokens) * BigInt(p.input_micros_per_m) + BigInt(outputTokens) * BigInt(p.output_micros_per_m);
  const bNum = bRaw * BigInt(10_000 + p.markup_bp);
  const bDen = 10_000_000_000n;
  return Number(bNum / bDen + (bNum % bDen > 0n ? 1n : 0n));
}

/** Admin/API view: micro-dollars plus the equivalent USD-per-1M as exact decimal strings. */
export const priceView = (p: Price) => ({
  provider: p.provider,
  model: p.model,
  input_micros_per_m: p.input_micros_per_m,
  output_micros_per_m: p.output_micros_per_m,
  input_usd_per_m: microsToUsd(p.input_micros_per_m),
  output_usd_per_m: microsToUsd(p.output_micros_per_m),
  markup_bp: p.markup_bp,
  updated_at: iso(p.updated_at),
  updated_by: p.updated_by,
});

function microsToUsd(m: number): string {
  const whole = Math.trunc(m / 1_000_000);
  const frac = String(m % 1_000_000).padStart(6, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : String(whole);
}

export const UNPRICED_HINT = 'Ask the gateway admin to add a price for this model (admin API: PUT /admin/api/pricing).';

/**
 * Prices per (provider, model), cached in memory (the whole table is small) and reloaded after
 * a change: writes record a 'pricing' invalidation so every node drops its copy.
 */
export class PricingService {
  private cache: Map<string, Price> | null = null;
  private loading: Promise<Map<string, Price>> | null = null;
  private generation = 0;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly bus: InvalidationBus,
  ) {
    bus.on((kind) => {
      if (kind === 'pricing' || kind === 'all') this.invalidate();
    });
  }

  invalidate(): void {
    this.generation++;
    this.cache = null;
    this.loading = null;
  }

  private async table(): Promise<Map<string, Price>> {
    if (this.cache) return this.cache;
    if (!this.loading) {
      const gen = this.generation;
      this.loading = this.db
        .selectFrom('pricing')
        .selectAll()
        .execute()
        .then((rows) => {
          const m = new Map(rows.map((r) => [keyOf(r.provider, r.model), fromRow(r)]));
          // A change that landed while loading wins: do not install a stale table.
          if (gen === this.generation) this.cache = m;
          return m;
        })
        .finally(() => {
          if (gen === this.generation) this.loading = null;
        });
    }
    return this.loading;
  }

  async get(provider: string, model: string): Promise<Price | undefined> {
    return (await this.table()).get(keyOf(provider, model));
  }

  /** The price, or 409 UNPRICED_MODEL (raised before any upstream call). */
  async require(provider: string, model: string): Promise<Price> {
    const p = await this.get(provider, model);
    if (!p) throw new AppError('UNPRICED_MODEL', `Unpriced model: ${provider}:${model}`, { hint: UNPRICED_HINT });
    return p;
  }

  async list(provider?: string): Promise<Price[]> {
    const all = [...(await this.table()).values()].filter((p) => !provider || p.provider === provider);
    return all.sort((a, b) => a.provider.localeCompare(b.provider) || a.model.localeCompare(b.model));
  }

  async upsert(input: PriceInput, by: Actor): Promise<{ price: Price; created: boolean }> {
    const now = this.clock.now();
    const row: PricingTable = { ...input, updated_at: now, updated_by: by.actor };
    const created = await this.db.transaction().execute(async (trx) => {
      const prev = await trx
        .selectFrom('pricing')
        .selectAll()
        .where('provider', '=', input.provider)
        .where('model', '=', input.model)
        .executeTakeFirst();
      await trx
        .insertInto('pricing')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['provider', 'model']).doUpdateSet({
            input_micros_per_m: row.input_micros_per_m,
            output_micros_per_m: row.output_micros_per_m,
            markup_bp: row.markup_bp,
            updated_at: now,
            updated_by: by.actor,
          }),
        )
        .execute();
      await this.bus.record(trx, 'pricing', `${input.provider}:${input.model}`);
      await this.audit.record(
        {
          ...by,
          action: 'PRICING_UPSERT',
          target: `pricing:${input.provider}:${input.model}`,
          summary: `in=${input.input_micros_per_m} out=${input.output_micros_per_m} markup_bp=${input.markup_bp}`,
          meta: { before: prev ? fromRow(prev) : null, after: input },
        },
        trx,
      );
      return !prev;
    });
    await this.bus.emit('pricing', `${input.provider}:${input.model}`);
    return { price: fromRow(row), created };
  }

  async remove(provider: string, model: string, by: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom('pricing').where('provider', '=', provider).where('model', '=', model).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw new AppError('NOT_FOUND', `No price for ${provider}:${model}`);
      await this.bus.record(trx, 'pricing', `${provider}:${model}`);
      await this.audit.record({ ...by, action: 'PRICING_DELETE', target: `pricing:${provider}:${model}` }, trx);
    });
    await this.bus.emit('pricing', `${provider}:${model}`);
  }
}
