import type { KeyObject } from 'node:crypto';
import type { InvalidationBus } from '../cluster/invalidation.ts';
import type { Clock } from '../lib/clock.ts';
import { hmacKey } from '../lib/crypto.ts';
import { AppError } from '../lib/errors.ts';
import type { Db } from '../storage/db.ts';
import { hashKey, KEY_PREFIX, KEY_RE } from './key-material.ts';
import { customerFromRow, keyFromRow, type ApiKey, type Customer } from './policy.ts';

export interface AuthContext {
  key: ApiKey;
  customer: Customer;
  /** How the caller authenticated: a raw virtual key or a user-session JWT. */
  via: 'key' | 'session';
}

/** Resolves a session JWT to a key id (issue: billing/session tokens); optional. */
export type SessionResolver = (token: string) => Promise<string | null>;

export interface AuthenticateOptions {
  /**
   * Skip the strict per-request freshness query (PostgreSQL) on a cache hit. Only for callers
   * whose next step re-checks revocation, customer status and policy freshness atomically — the
   * governed data plane (GovernanceService.admit). See the class comment.
   */
  deferRevocationCheck?: boolean;
}

interface CacheEntry {
  ctx: AuthContext;
  expires: number;
  /** The raw key that loaded this entry (its digest memo goes with the entry). */
  token?: string;
}

/** Digests remembered at most; the memo is cleared when full (as the other per-node caches). */
const MAX_DIGEST_MEMO = 10_000;

export const AUTH_MESSAGES = {
  missing: 'Missing Authorization: Bearer <virtual_key>',
  invalid: 'Invalid or revoked key',
  disabled: 'Customer disabled',
} as const;

/**
 * Bearer virtual key → key + customer.
 *
 * Single node (SQLite): an in-memory cache keyed by the key digest, cleared synchronously
 * by the InvalidationBus on every key/customer change, so a revoke applies on the next request.
 *
 * Several nodes (PostgreSQL): the cache still answers "who is this", but every request
 * re-reads the key's revoked/active state with one indexed query (`strict`), so a key revoked
 * on node 1 is refused by node 2 on its very next request without waiting for NOTIFY.
 *
 * `deferRevocationCheck` skips that query for callers that re-check atomically later anyway:
 * the governed data plane (chat), whose cap reservation re-reads the key (revoked? same owner?),
 * the customer (active?) and both rows' updated_at in the same statement that reserves, and
 * reloads the context through `refresh` when either changed (src/governance/service.ts). Nothing
 * reaches an upstream or the ledger before that check. Everything else — user endpoints, whoami,
 * anything that answers with the key's data — keeps the strict check.
 */
export class KeyAuthenticator {
  private cache = new Map<string, CacheEntry>();
  private byKeyId = new Map<string, string>();
  /**
   * Raw key → its digest, for keys that authenticated. One HMAC-SHA256 costs ≈ 17 µs in a gateway
   * that just ran other code (OpenSSL's init path is long and cold by then; 1.8 µs back to back),
   * about 3 % of a call's CPU at concurrency 1 (bench/README.md). A digest is a pure function of the
   * key and the pepper, so an entry never goes stale; revocation, rotation and policy changes act on
   * `cache` and the database as before. Only keys that matched an active key are remembered (made-up
   * tokens cannot fill it), an entry leaves with its key's cache entry, and the memo is bounded. It
   * keeps raw keys in this process's memory, as the requests carrying them and the upstream
   * credentials already are; nothing writes it anywhere.
   */
  private digests = new Map<string, string>();
  private readonly pepperKey: KeyObject;
  sessionResolver?: SessionResolver;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    pepper: string,
    private readonly ttlMs: number,
    private readonly strict: boolean,
    bus: InvalidationBus,
  ) {
    this.pepperKey = hmacKey(pepper);
    bus.on((kind, target) => {
      if (kind === 'key') this.evictKey(target);
      else if (kind === 'customer') this.evictCustomer(target);
      else if (kind === 'all') this.clear();
    });
  }

  clear(): void {
    this.cache.clear();
    this.byKeyId.clear();
    this.digests.clear();
  }

  private evictKey(keyId: string) {
    const h = this.byKeyId.get(keyId);
    if (h) this.drop(h);
    this.byKeyId.delete(keyId);
  }

  private evictCustomer(customerId: string) {
    for (const [h, e] of this.cache) {
      if (e.ctx.customer.id === customerId) {
        this.drop(h);
        this.byKeyId.delete(e.ctx.key.id);
      }
    }
  }

  /** Forgets a cache entry and the digest memo of the raw key that loaded it. */
  private drop(digest: string) {
    const e = this.cache.get(digest);
    if (e?.token !== undefined) this.digests.delete(e.token);
    this.cache.delete(digest);
  }

  /** How many raw keys have their digest remembered (tests). */
  get memoSize(): number {
    return this.digests.size;
  }

  /** Resolve an Authorization header value. Throws AppError with the seed messages. */
  async authenticate(authorization: string | undefined, opts: AuthenticateOptions = {}): Promise<AuthContext> {
    const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (!m) throw new AppError('MISSING_KEY', AUTH_MESSAGES.missing);
    const token = m[1]!;
    let ctx: AuthContext | null;
    // A malformed kx_live_ token cannot match: refuse it without a database lookup.
    if (token.startsWith(KEY_PREFIX)) ctx = KEY_RE.test(token) ? await this.byToken(token, opts.deferRevocationCheck === true) : null;
    else if (this.sessionResolver && token.split('.').length === 3) {
      const keyId = await this.sessionResolver(token);
      ctx = keyId ? await this.byKeyIdFresh(keyId) : null;
      if (ctx) ctx = { ...ctx, via: 'session' };
    } else ctx = null;
    if (!ctx) throw new AppError('INVALID_KEY', AUTH_MESSAGES.invalid);
    if (!ctx.customer.is_active) throw new AppError('CUSTOMER_DISABLED', AUTH_MESSAGES.disabled);
    return ctx;
  }

  private async byToken(token: string, deferred: boolean): Promise<AuthContext | null> {
    const known = this.digests.get(token);
    const digest = known ?? this.digestOf(token);
    const ctx = await this.byDigest(digest, deferred);
    if (!ctx) this.digests.delete(token);
    else if (known === undefined) {
      // Remembered while its key is cached (the entry may have been evicted meanwhile).
      const entry = this.cache.get(digest);
      if (entry) {
        entry.token = token;
        if (this.digests.size >= MAX_DIGEST_MEMO) this.digests.clear();
        this.digests.set(token, digest);
      }
    }
    return ctx;
  }

  /** The key's digest as stored: HMAC-SHA256 with the pepper. */
  protected digestOf(token: string): string {
    return hashKey(this.pepperKey, token);
  }

  private async byDigest(digest: string, deferred: boolean): Promise<AuthContext | null> {
    const now = this.clock.now();
    const hit = this.cache.get(digest);
    if (hit && hit.expires > now) {
      if (!this.strict || deferred) return hit.ctx;
      const fresh = await this.db
        .selectFrom('api_keys as k')
        .innerJoin('customers as c', 'c.id', 'k.customer_id')
        .select(['k.revoked_at', 'k.updated_at as k_upd', 'c.updated_at as c_upd', 'c.is_active'])
        .where('k.id', '=', hit.ctx.key.id)
        .executeTakeFirst();
      if (fresh && fresh.revoked_at == null && Number(fresh.k_upd) === hit.ctx.key.updated_at && Number(fresh.c_upd) === hit.ctx.customer.updated_at) {
        return hit.ctx;
      }
      this.evictKey(hit.ctx.key.id);
    }
    const ctx = await this.load('k.key_hash', digest);
    if (ctx) {
      this.cache.set(digest, { ctx, expires: now + this.ttlMs, token: hit?.token });
      this.byKeyId.set(ctx.key.id, digest);
    }
    return ctx;
  }

  /**
   * Reload a context whose key or customer changed (governance saw different updated_at values
   * in its atomic re-check): evict it and read both rows again. Null when the key is revoked or
   * gone. The cache entry of a raw key is replaced, so the next request uses the fresh policy.
   */
  async refresh(stale: AuthContext): Promise<AuthContext | null> {
    const digest = this.byKeyId.get(stale.key.id);
    this.evictKey(stale.key.id);
    const ctx = await this.load('k.id', stale.key.id);
    if (!ctx) return null;
    if (stale.via === 'session') return { ...ctx, via: 'session' };
    if (digest) {
      this.cache.set(digest, { ctx, expires: this.clock.now() + this.ttlMs });
      this.byKeyId.set(ctx.key.id, digest);
    }
    return ctx;
  }

  /** Uncached lookup by key id (session tokens): always fresh. */
  byKeyIdFresh(keyId: string): Promise<AuthContext | null> {
    return this.load('k.id', keyId);
  }

  private async load(column: 'k.key_hash' | 'k.id', value: string): Promise<AuthContext | null> {
    const row = await this.db
      .selectFrom('api_keys as k')
      .innerJoin('customers as c', 'c.id', 'k.customer_id')
      .selectAll('k')
      .select([
        'c.email as c_email',
        'c.plan as c_plan',
        'c.monthly_cap_cents as c_monthly_cap_cents',
        'c.is_active as c_is_active',
        'c.cap_mode as c_cap_mode',
        'c.max_devices_per_key as c_max_devices_per_key',
        'c.require_install_id as c_require_install_id',
        'c.allowed_providers as c_allowed_providers',
        'c.allowed_models as c_allowed_models',
        'c.rpm_limit as c_rpm_limit',
        'c.rpd_limit as c_rpd_limit',
        'c.created_at as c_created_at',
        'c.updated_at as c_updated_at',
      ])
      .where(column, '=', value)
      .where('k.revoked_at', 'is', null)
      .executeTakeFirst();
    if (!row) return null;
    const customer = customerFromRow({
      id: row.customer_id,
      email: row.c_email,
      plan: row.c_plan,
      monthly_cap_cents: row.c_monthly_cap_cents,
      is_active: row.c_is_active,
      cap_mode: row.c_cap_mode,
      max_devices_per_key: row.c_max_devices_per_key,
      require_install_id: row.c_require_install_id,
      allowed_providers: row.c_allowed_providers,
      allowed_models: row.c_allowed_models,
      rpm_limit: row.c_rpm_limit,
      rpd_limit: row.c_rpd_limit,
      created_at: row.c_created_at,
      updated_at: row.c_updated_at,
    });
    return { key: keyFromRow(row), customer, via: 'key' };
  }
}
