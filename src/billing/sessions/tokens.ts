import { jwtVerify, SignJWT } from 'jose';
import type { AuthContext } from '../../keys/auth.ts';
import type { Clock } from '../../lib/clock.ts';

const AUDIENCE = 'kaixu-user-session';
export const SESSION_TTL_MIN_S = 60;
export const SESSION_TTL_MAX_S = 86_400;

/** Clamp a requested lifetime to 60..86400 s (the seed clamps rather than rejects). */
export function clampTtl(requested: number | undefined, fallback: number): number {
  const v = requested === undefined || !Number.isFinite(requested) ? fallback : Math.floor(requested);
  return Math.min(SESSION_TTL_MAX_S, Math.max(SESSION_TTL_MIN_S, v));
}

/**
 * User-session tokens: a short-lived HS256 JWT (JWT_SECRET) a dashboard can hold instead of
 * the raw virtual key. Payload `{type:"user_session", api_key_id, customer_id, key_last4}`
 * (the seed's), plus an audience so an admin token and a session token can never stand in
 * for each other. The token names a key; every use re-reads that key uncached
 * (KeyAuthenticator.byKeyIdFresh), so revoking the key ends its sessions at once.
 */
export class SessionTokens {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly clock: Clock,
    private readonly defaultTtlS: number,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(auth: AuthContext, ttlSeconds?: number): Promise<{ token: string; expires_in: number; key_last4: string }> {
    const ttl = clampTtl(ttlSeconds, this.defaultTtlS);
    const nowS = Math.floor(this.clock.now() / 1000);
    const token = await new SignJWT({ type: 'user_session', api_key_id: auth.key.id, customer_id: auth.customer.id, key_last4: auth.key.key_last4 })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + ttl)
      .setAudience(AUDIENCE)
      .sign(this.key);
    return { token, expires_in: ttl, key_last4: auth.key.key_last4 };
  }

  /** The key id a valid session token names, or null (bad signature, expired, wrong type). */
  readonly resolve = async (token: string): Promise<string | null> => {
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], audience: AUDIENCE, currentDate: new Date(this.clock.now()) });
      return payload.type === 'user_session' && typeof payload.api_key_id === 'string' ? payload.api_key_id : null;
    } catch {
      return null;
    }
  };
}
