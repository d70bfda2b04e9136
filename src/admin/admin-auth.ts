import { jwtVerify, SignJWT } from 'jose';
import type { AuditLog } from '../audit/audit.ts';
import type { Clock } from '../lib/clock.ts';
import { safeEqual } from '../lib/crypto.ts';
import { AppError } from '../lib/errors.ts';
import type { Throttle } from '../lib/throttle.ts';

const TTL_S = 12 * 3600;
const SCOPE = 'admin_login_fail';

/** Admin login (password → HS256 JWT, 12 h) with per-IP failure throttling and audit. */
export class AdminAuth {
  private readonly key: Uint8Array;
  constructor(
    private readonly opts: { password: string; jwtSecret: string; allowPasswordHeader: boolean; maxFails: number; windowS: number },
    private readonly clock: Clock,
    private readonly throttle: Throttle,
    private readonly audit: AuditLog,
  ) {
    this.key = new TextEncoder().encode(opts.jwtSecret);
  }

  async login(password: string, ip: string): Promise<{ token: string; expires_at: string }> {
    const windowMs = this.opts.windowS * 1000;
    const before = await this.throttle.count(SCOPE, ip, windowMs);
    if (before.count >= this.opts.maxFails) {
      throw new AppError('LOGIN_THROTTLED', 'Too many failed logins; try again later', { retry_after: before.retryAfterS }, { 'retry-after': String(before.retryAfterS) });
    }
    if (!safeEqual(password, this.opts.password)) {
      await this.throttle.hit(SCOPE, ip, windowMs);
      await this.audit.record({ actor: 'anonymous', action: 'ADMIN_LOGIN_FAIL', ip, summary: 'wrong password' });
      throw new AppError('INVALID_CREDENTIALS', 'Invalid credentials');
    }
    const nowS = Math.floor(this.clock.now() / 1000);
    const token = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('admin')
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + TTL_S)
      .setAudience('kaixu-admin')
      .sign(this.key);
    await this.audit.record({ actor: 'admin', action: 'ADMIN_LOGIN_OK', ip });
    return { token, expires_at: new Date((nowS + TTL_S) * 1000).toISOString() };
  }

  /** Bearer admin JWT, or (opt-in) the seed's x-admin-password header. */
  async verify(authorization: string | undefined, passwordHeader: string | undefined): Promise<{ actor: string }> {
    if (passwordHeader !== undefined) {
      if (this.opts.allowPasswordHeader && safeEqual(passwordHeader, this.opts.password)) return { actor: 'admin' };
      throw new AppError('UNAUTHORIZED', 'Unauthorized');
    }
    const m = authorization ? /^Bearer\s+(\S+)$/i.exec(authorization) : null;
    if (!m) throw new AppError('UNAUTHORIZED', 'Unauthorized');
    try {
      const { payload } = await jwtVerify(m[1]!, this.key, {
        algorithms: ['HS256'],
        audience: 'kaixu-admin',
        currentDate: new Date(this.clock.now()),
      });
      if (payload.role !== 'admin') throw new Error('not admin');
      return { actor: 'admin' };
    } catch {
      throw new AppError('UNAUTHORIZED', 'Unauthorized');
    }
  }
}
