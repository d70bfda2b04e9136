import type { Admission, AdmitInput, CallContext, CallTarget, Governance, MonthView } from '../gateway/governance.ts';
import { AUTH_MESSAGES } from '../keys/auth.ts';
import { effectivePolicy } from '../keys/policy.ts';
import { monthOf, type Clock } from '../lib/clock.ts';
import { hmacHex } from '../lib/crypto.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import { microsToCents } from '../lib/money.ts';
import { priceCost, type Price, type PricingService } from '../metering/pricing.ts';
import { GovernedAdmission, targetKey } from './admission.ts';
import type { CapAlerts } from './alerts.ts';
import { checkAllowed } from './allowlist.ts';
import type { CapSnapshot, CapStore, ReserveOutcome } from './caps/types.ts';
import { DEVICE_MESSAGES, type DeviceRegistry } from './devices.ts';
import { monthView, remainingCents } from './month.ts';
import { rateLimitHeaders, refusalHeaders } from './rate-limit/headers.ts';
import type { RateLimiter } from './rate-limit/limiter.ts';

/** Where metered usage is also counted (src/metrics Metrics.recordUsage). */
export interface UsageSink {
  recordUsage(u: { provider: string; model: string; input: number; output: number; costMicros: number }): void;
}

export interface GovernanceDeps {
  clock: Clock;
  pricing: PricingService;
  devices: DeviceRegistry;
  limiter: RateLimiter;
  caps: CapStore;
  alerts: CapAlerts;
  keyPepper: string;
  defaults: { rpm: number; rpd?: number };
  reservationTtlMs: number;
}

const KEY_TOUCH_MS = 60_000;

/**
 * Admission and metering for every data-plane call, in the order the design fixes:
 * allowlist (public name and every upstream target) → pricing (an unpriced target is refused
 * here, before anything is counted or sent) → device seat → rate limit → cap reservation.
 * Key validity and customer status were checked by the authenticator and are re-checked inside
 * the reservation step, so a revocation on another node holds even against a cached key.
 */
export class GovernanceService implements Governance {
  readonly clock: Clock;
  readonly pricing: PricingService;
  usageSink: UsageSink | null = null;
  private readonly keyTouched = new Map<string, number>();

  constructor(private readonly d: GovernanceDeps) {
    this.clock = d.clock;
    this.pricing = d.pricing;
  }

  async admit(ctx: CallContext, input: AdmitInput): Promise<Admission> {
    const { key, customer } = ctx.auth;
    const policy = effectivePolicy(key, customer, this.d.defaults);
    const targets: CallTarget[] = input.targets.length ? input.targets : [{ provider: ctx.publicProvider, model: ctx.publicModel }];

    checkAllowed(policy, ctx.publicProvider, ctx.publicModel);
    for (const t of targets) if (t.provider !== ctx.publicProvider || t.model !== ctx.publicModel) checkAllowed(policy, t.provider, t.model);

    const prices = new Map<string, Price>();
    let amount = 1; // a reached cap refuses every metered call, free models included
    const inUb = Math.max(0, Math.ceil(input.inputTokensUpperBound));
    const outMax = Math.max(0, Math.ceil(input.maxOutputTokens));
    for (const t of targets) {
      const p = await this.d.pricing.require(t.provider, t.model);
      prices.set(targetKey(t.provider, t.model), p);
      amount = Math.max(amount, priceCost(p, inUb, outMax));
    }

    const installId = await this.d.devices.admit({ keyId: key.id, customerId: customer.id }, policy, ctx.installId, ctx.userAgent);

    const now = this.d.clock.now();
    const rl = await this.d.limiter.hit(key.id, { rpm: policy.rpm, rpd: policy.rpd }, now);
    if (rl && !rl.allowed) {
      throw new AppError(
        'RATE_LIMITED',
        'Rate limit exceeded',
        { ratelimit: { limit: rl.info.limit, remaining: rl.info.remaining, reset: rl.info.reset, scope: rl.info.scope } },
        refusalHeaders(rl),
      );
    }
    const rlHeaders = rl ? rateLimitHeaders(rl.info) : {};

    const month = monthOf(now);
    const reservationId = newId('res');
    const r = await this.d.caps.reserve({
      id: reservationId,
      customerId: customer.id,
      keyId: key.id,
      month,
      amount,
      installId,
      requestId: ctx.requestId,
      now,
      expiresAt: now + this.d.reservationTtlMs,
    });
    if (r.outcome !== 'reserved' && r.outcome !== 'ok') this.refuse(r.outcome, r.snap, { customerId: customer.id, keyId: key.id, installId, month, amount, rlHeaders });
    const snap = r.snap!;
    const view = monthView({ month, baseCapCents: snap.baseCapCents, keyCapCents: snap.keyCapCents, extraCents: snap.extraCents, cSpent: snap.cSpent, kSpent: snap.kSpent });
    return new GovernedAdmission(this, this.d.caps, {
      ctx,
      month,
      view,
      rateLimit: rl?.info ?? null,
      reservationId: r.outcome === 'reserved' ? reservationId : null,
      prices,
      installId,
      baseCapCents: snap.baseCapCents,
      keyCapCents: snap.keyCapCents,
    });
  }

  private refuse(
    outcome: Exclude<ReserveOutcome, 'reserved' | 'ok'>,
    snap: CapSnapshot | null,
    c: { customerId: string; keyId: string; installId: string | null; month: string; amount: number; rlHeaders: Record<string, string> },
  ): never {
    switch (outcome) {
      case 'key_revoked':
        throw new AppError('INVALID_KEY', AUTH_MESSAGES.invalid);
      case 'customer_disabled':
        throw new AppError('CUSTOMER_DISABLED', AUTH_MESSAGES.disabled);
      case 'device_revoked':
        this.d.devices.forgetKey(c.keyId);
        throw new AppError('DEVICE_REVOKED', DEVICE_MESSAGES.revoked);
      default: {
        const s = snap!;
        const scope = outcome === 'customer_cap' ? 'customer' : 'key';
        const view = monthView({ month: c.month, baseCapCents: s.baseCapCents, keyCapCents: s.keyCapCents, extraCents: s.extraCents, cSpent: s.cSpent, kSpent: s.kSpent });
        const capCents = scope === 'customer' ? view.customer_cap_cents : view.key_cap_cents;
        const spent = scope === 'customer' ? s.cSpent : s.kSpent;
        const reserved = s.mode === 'soft' ? 0 : scope === 'customer' ? s.cReserved : s.kReserved;
        this.d.alerts.refused(c.customerId, c.keyId, scope, view);
        throw new AppError(
          'CAP_REACHED',
          'Monthly cap reached',
          {
            scope,
            month: view,
            cap_cents: capCents,
            spent_cents: microsToCents(spent),
            reserved_cents: microsToCents(reserved),
            remaining_cents: remainingCents(capCents, spent + reserved),
            required_cents: s.mode === 'soft' ? 0 : microsToCents(c.amount),
            cap_mode: s.mode,
          },
          c.rlHeaders,
        );
      }
    }
  }

  /** Called by an admission after its settle committed. Off the hot path: alerts are deferred. */
  afterSettle(ctx: CallContext, view: MonthView, u: { provider: string; model: string; input: number; output: number; costMicros: number }): void {
    this.d.alerts.observe(ctx.auth.customer.id, ctx.auth.key.id, ctx.auth.key.monthly_cap_cents != null, view);
    this.usageSink?.recordUsage(u);
  }

  /** api_keys.last_seen_at is written at most once a minute per key per node. */
  shouldTouchKey(keyId: string, now: number): boolean {
    const last = this.keyTouched.get(keyId);
    if (last !== undefined && now - last < KEY_TOUCH_MS) return false;
    if (this.keyTouched.size > 100_000) this.keyTouched.clear();
    this.keyTouched.set(keyId, now);
    return true;
  }

  private ipCache = new Map<string, string>();
  ipHash(ip: string): string | null {
    if (!ip) return null;
    let h = this.ipCache.get(ip);
    if (!h) {
      h = hmacHex(this.d.keyPepper, `ip:${ip}`);
      if (this.ipCache.size > 10_000) this.ipCache.clear();
      this.ipCache.set(ip, h);
    }
    return h;
  }

  /** Release reservations whose holder is gone (crashed process, lost settle). */
  async sweepExpiredReservations(limit = 500): Promise<number> {
    const ids = await this.d.caps.expiredReservations(this.d.clock.now(), limit);
    let n = 0;
    for (const id of ids) if ((await this.d.caps.release(id)) > 0) n++;
    return n;
  }
}
