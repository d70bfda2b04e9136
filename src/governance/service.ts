import { randomBytes } from 'node:crypto';
import type { Admission, AdmitInput, CallContext, CallTarget, Governance, MonthView } from '../gateway/governance.ts';
import { AUTH_MESSAGES, type AuthContext } from '../keys/auth.ts';
import { effectivePolicy } from '../keys/policy.ts';
import { monthOf, type Clock } from '../lib/clock.ts';
import { hmacHex } from '../lib/crypto.ts';
import { AppError } from '../lib/errors.ts';
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
import type { RateDecision } from './rate-limit/types.ts';

const STALE = Symbol('stale');

const rateLimited = (rl: RateDecision) =>
  new AppError(
    'RATE_LIMITED',
    'Rate limit exceeded',
    { ratelimit: { limit: rl.info.limit, remaining: rl.info.remaining, reset: rl.info.reset, scope: rl.info.scope } },
    refusalHeaders(rl),
  );

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
/** Reloads after a `stale` answer before giving up (each means the key or customer changed again meanwhile). */
const STALE_RETRIES = 3;

/** Reloads a key's auth context from the database (KeyAuthenticator.refresh); null = revoked or gone. */
export type AuthRefresher = (stale: AuthContext) => Promise<AuthContext | null>;

// Reservation ids: a random per-process prefix and a counter (unique across nodes and restarts
// without drawing random bytes on every call).
const RES_PREFIX = `res_${randomBytes(8).toString('hex')}_`;
let resSeq = 0;

/**
 * Admission and metering for every data-plane call, in the order the design fixes:
 * allowlist (public name and every upstream target) → pricing (an unpriced target is refused
 * here, before anything is counted or sent) → device seat → rate limit → cap reservation.
 *
 * Key validity and customer status were checked by the authenticator and are re-checked inside
 * the reservation step, together with the key's and customer's updated_at: if either changed
 * since the caller's AuthContext was loaded, the step does nothing and answers `stale`, and the
 * call is re-admitted with a freshly loaded context. So a revocation, a disabled customer or a
 * policy change made on another node holds on the very next call even against a cached key —
 * which is why the data plane may skip the authenticator's per-request freshness query
 * (`authenticate(h, { deferRevocationCheck: true })`, PostgreSQL).
 *
 * The device step (when due) and the rate-limit check-and-count ride in the reservation step
 * whenever the counters live where it runs (PostgreSQL counters on PostgreSQL, memory counters
 * on SQLite): admission is then one atomic step — one round trip on PostgreSQL, one synchronous
 * block on SQLite — and a `stale` answer comes before anything was counted or registered.
 */
export class GovernanceService implements Governance {
  readonly clock: Clock;
  readonly pricing: PricingService;
  usageSink: UsageSink | null = null;
  /** Wired by the container (KeyAuthenticator.refresh). */
  authRefresher: AuthRefresher | null = null;
  private readonly keyTouched = new Map<string, number>();

  constructor(private readonly d: GovernanceDeps) {
    this.clock = d.clock;
    this.pricing = d.pricing;
  }

  async admit(ctx: CallContext, input: AdmitInput): Promise<Admission> {
    for (let attempt = 0; ; attempt++) {
      const a = await this.admitOnce(ctx, input);
      if (a !== STALE) return a;
      if (attempt >= STALE_RETRIES || !this.authRefresher) throw new AppError('SERVICE_UNAVAILABLE', 'Key or customer is being changed; retry');
      const fresh = await this.authRefresher(ctx.auth);
      if (!fresh) throw new AppError('INVALID_KEY', AUTH_MESSAGES.invalid);
      if (!fresh.customer.is_active) throw new AppError('CUSTOMER_DISABLED', AUTH_MESSAGES.disabled);
      ctx = { ...ctx, auth: fresh };
    }
  }

  private async admitOnce(ctx: CallContext, input: AdmitInput): Promise<Admission | typeof STALE> {
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

    const now = this.d.clock.now();
    const caps = this.d.caps;
    const dev = this.d.devices.prepare({ keyId: key.id, customerId: customer.id }, policy, ctx.installId, ctx.userAgent, now);
    const windows = this.d.limiter.windows(key.id, { rpm: policy.rpm, rpd: policy.rpd }, now);
    const foldRate = windows.length > 0 && caps.foldsRate(this.d.limiter);
    // The device step rides along unless a separate rate-limit step must come between them.
    const foldDevice = foldRate || windows.length === 0;
    if (dev.step && !foldDevice) this.d.devices.apply(dev.step, await this.d.devices.seen(dev.step));
    let rl: RateDecision | null = null;
    if (windows.length && !foldRate) {
      // Redis counters: a round trip of their own, before the reservation. (Should the
      // reservation then answer `stale`, the retry counts the call again: a changed key may see
      // one extra hit in the current window — the strict side.)
      rl = await this.d.limiter.check(windows, now);
      if (!rl.allowed) throw rateLimited(rl);
    }

    const month = monthOf(now);
    const reservationId = `${RES_PREFIX}${(++resSeq).toString(36)}`;
    const r = await caps.reserve({
      id: reservationId,
      customerId: customer.id,
      keyId: key.id,
      month,
      amount,
      installId: dev.installId,
      requestId: ctx.requestId,
      now,
      expiresAt: now + this.d.reservationTtlMs,
      expect: { keyUpdatedAt: key.updated_at, customerUpdatedAt: customer.updated_at },
      device: foldDevice ? dev.step : null,
      rate: foldRate ? { windows, backend: this.d.limiter.backend } : null,
    });
    if (r.outcome === 'stale') return STALE;
    if (r.device && dev.step) this.d.devices.apply(dev.step, r.device);
    if (r.rate) {
      rl = this.d.limiter.decide(windows, r.rate);
      if (!rl.allowed) throw rateLimited(rl);
    }
    const rlHeaders = rl ? rateLimitHeaders(rl.info) : {};
    if (r.outcome !== 'reserved' && r.outcome !== 'ok') this.refuse(r.outcome, r.snap, { customerId: customer.id, keyId: key.id, month, amount, rlHeaders });
    const snap = r.snap!;
    const view = monthView({ month, baseCapCents: snap.baseCapCents, keyCapCents: snap.keyCapCents, extraCents: snap.extraCents, cSpent: snap.cSpent, kSpent: snap.kSpent });
    return new GovernedAdmission(this, this.d.caps, {
      ctx,
      month,
      view,
      rateLimit: rl?.info ?? null,
      callId: reservationId,
      reservationId: r.outcome === 'reserved' ? reservationId : null,
      prices,
      installId: dev.installId,
      baseCapCents: snap.baseCapCents,
      keyCapCents: snap.keyCapCents,
    });
  }

  private refuse(
    outcome: Exclude<ReserveOutcome, 'reserved' | 'ok' | 'stale'>,
    snap: CapSnapshot | null,
    c: { customerId: string; keyId: string; month: string; amount: number; rlHeaders: Record<string, string> },
  ): never {
    switch (outcome) {
      case 'key_revoked':
        throw new AppError('INVALID_KEY', AUTH_MESSAGES.invalid);
      case 'customer_disabled':
        throw new AppError('CUSTOMER_DISABLED', AUTH_MESSAGES.disabled);
      case 'device_revoked':
        this.d.devices.forgetKey(c.keyId);
        throw new AppError('DEVICE_REVOKED', DEVICE_MESSAGES.revoked);
      case 'device_limit':
      case 'rate_limited':
        // Folded steps: their own results (applied above) carry the refusal.
        throw new Error(`governance: ${outcome} without its step's result`);
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
