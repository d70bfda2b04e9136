import type { Admission, CallContext, MonthView, SettleInput, SettleResult } from '../gateway/governance.ts';
import { AppError } from '../lib/errors.ts';
import { microsToCents } from '../lib/money.ts';
import { priceCost, type Price } from '../metering/pricing.ts';
import type { CapStore } from './caps/types.ts';
import type { RateLimitInfo } from './rate-limit/types.ts';
import { monthView } from './month.ts';
import type { GovernanceService } from './service.ts';

const clip = (s: string | undefined, n: number): string | null => (s ? s.slice(0, n) : null);
const tokens = (n: number): number => (Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);

export interface AdmissionState {
  ctx: CallContext;
  month: string;
  view: MonthView;
  rateLimit: RateLimitInfo | null;
  /** The call's id in the cap store (ReserveInput.id). */
  callId: string;
  /** Set when the call holds a reservation (hard mode): the same id. */
  reservationId: string | null;
  /** Prices of the admitted targets, as of admission (the reservation was computed from them). */
  prices: Map<string, Price>;
  installId: string | null;
  baseCapCents: number;
  keyCapCents: number | null;
}

export const targetKey = (provider: string, model: string) => `${provider}\u0000${model}`;

/** One admitted call: exactly one of settle / release takes effect; later calls are no-ops or errors. */
export class GovernedAdmission implements Admission {
  readonly month: MonthView;
  readonly rateLimit: RateLimitInfo | null;
  private done = false;

  constructor(
    private readonly gov: GovernanceService,
    private readonly caps: CapStore,
    private readonly s: AdmissionState,
  ) {
    this.month = s.view;
    this.rateLimit = s.rateLimit;
  }

  get reservationId(): string | null {
    return this.s.reservationId;
  }

  async settle(input: SettleInput): Promise<SettleResult> {
    if (this.done) throw new Error('admission already settled or released');
    this.done = true;
    const { ctx } = this.s;
    const price = this.s.prices.get(targetKey(input.target.provider, input.target.model)) ?? (await this.gov.pricing.get(input.target.provider, input.target.model));
    if (!price) throw new AppError('UNPRICED_MODEL', `Unpriced model: ${input.target.provider}:${input.target.model}`);
    const inTok = tokens(input.usage.input_tokens);
    const outTok = tokens(input.usage.output_tokens);
    const cost = priceCost(price, inTok, outTok);
    const now = this.gov.clock.now();
    const key = ctx.auth.key;
    const out = await this.caps.settle({
      callId: this.s.callId,
      reservationId: this.s.reservationId,
      customerId: ctx.auth.customer.id,
      keyId: key.id,
      month: this.s.month,
      cost,
      inputTokens: inTok,
      outputTokens: outTok,
      now,
      touchKey: this.gov.shouldTouchKey(key.id, now),
      event: {
        created_at: now,
        month: this.s.month,
        request_id: ctx.requestId,
        customer_id: ctx.auth.customer.id,
        api_key_id: key.id,
        kind: ctx.kind,
        provider: ctx.publicProvider,
        model: ctx.publicModel,
        upstream_provider: input.target.provider,
        upstream_model: input.target.model,
        input_tokens: inTok,
        output_tokens: outTok,
        usage_source: input.usageSource,
        cost_micros: cost,
        install_id: this.s.installId,
        app: clip(ctx.app, 120),
        build: clip(ctx.build, 120),
        status: input.status,
        latency_ms: Math.max(0, Math.round(input.latencyMs)),
        ip_hash: this.gov.ipHash(ctx.ip),
        ua: clip(ctx.userAgent, 240),
      },
    });
    const view = monthView({
      month: this.s.month,
      baseCapCents: this.s.baseCapCents,
      keyCapCents: this.s.keyCapCents,
      extraCents: out.extraCents,
      cSpent: out.cSpent,
      kSpent: out.kSpent,
    });
    this.gov.afterSettle(ctx, view, { provider: input.target.provider, model: input.target.model, input: inTok, output: outTok, costMicros: cost });
    return { cost_micros: cost, cost_cents: microsToCents(cost), month: view };
  }

  async release(): Promise<void> {
    if (this.done) return;
    this.done = true;
    if (this.s.reservationId) await this.caps.release(this.s.reservationId);
    else this.caps.endUnheld(this.s.callId);
  }
}
