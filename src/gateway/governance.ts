import type { AuthContext } from '../keys/auth.ts';
import type { Usage } from '../providers/types.ts';

/**
 * The seam between the chat/embeddings data plane and governance + metering.
 * The data plane calls `admit` before contacting any upstream (allowlist → device seat →
 * rate limit → cap reservation, in that order; it throws AppError with the seed messages),
 * then exactly one of `settle` (the call was answered: one usage record, aggregates, release the
 * rest of the reservation) or `release` (nothing was answered: failed upstream, costs nothing).
 */
export interface CallContext {
  auth: AuthContext;
  requestId: string;
  /** Public names the client asked for (lane name or vendor name). */
  publicProvider: string;
  publicModel: string;
  installId?: string;
  app?: string;
  build?: string;
  ip: string;
  userAgent?: string;
  kind: 'chat' | 'embed';
}

export interface CallTarget {
  provider: string;
  model: string;
}

/** The seed's month object, in exact decimal cents. */
export interface MonthView {
  month: string;
  cap_cents: number;
  spent_cents: number;
  customer_cap_cents: number;
  customer_spent_cents: number;
  key_cap_cents: number;
  key_spent_cents: number;
}

export interface SettleInput {
  target: CallTarget;
  usage: Usage;
  usageSource: 'provider' | 'estimated';
  status: 'ok' | 'client_disconnect' | 'upstream_cut';
  latencyMs: number;
}

export interface SettleResult {
  cost_micros: number;
  cost_cents: number;
  month: MonthView;
}

/** Rate-limit state after this call was counted (RateLimit-* headers; see governance/rate-limit/headers.ts). */
export interface RateLimitInfo {
  scope: 'minute' | 'day';
  limit: number;
  remaining: number;
  /** Seconds until the reported window resets. */
  reset: number;
  /** e.g. `5;w=60` (RateLimit-Policy). */
  policy: string;
}

export interface Admission {
  /** Pre-call month view (for the stream `meta` frame). */
  month: MonthView;
  /**
   * Set when the key has an RPM/RPD limit: pass it to `applyRateLimitHeaders(headers, info)`
   * (src/governance/rate-limit/headers.ts) on every data-plane response.
   */
  rateLimit?: RateLimitInfo | null;
  settle(input: SettleInput): Promise<SettleResult>;
  release(): Promise<void>;
}

export interface AdmitInput {
  /** Every target the lane may try, in order (pricing and allowlist are checked for each). */
  targets: CallTarget[];
  /** Upper bound of input tokens from the prompt's size. */
  inputTokensUpperBound: number;
  /** The max_tokens sent upstream. */
  maxOutputTokens: number;
}

export interface Governance {
  admit(ctx: CallContext, input: AdmitInput): Promise<Admission>;
}
