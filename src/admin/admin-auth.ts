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

  /**
   * Check the admin password for a client ip under the failure throttle. The attempt is counted
   * before it is checked, so concurrent guesses cannot overrun the limit; a success takes it back.
   */
  private async checkPassword(password: string, ip: string, via: string): Promise<void> {
    const attempt = await this.throttle.hit(SCOPE, ip, this.opts.windowS * 1000);
    if (attempt.count > this.opts.maxFails) {
      if (attempt.count === this.opts.maxFails + 1) {
        await this.audit.record({ actor: 'anonymous', action: 'ADMIN_LOGIN_THROTTLED', ip, summary: `${this.opts.maxFails} failed logins` });
      }
      throw new AppError('LOGIN_THROTTLED', 'Too many failed logins; try again later', { retry_after: attempt.retryAfterS }, { 'retry-after': String(attempt.retryAfterS) });
    }
    if (!safeEqual(password, this.opts.password)) {
      await this.audit.record({ actor: 'anonymous', action: 'ADMIN_LOGIN_FAIL', ip, summary: `wrong password (${via})` });
      throw new AppError(via === 'login' ? 'INVALID_CREDENTIALS' : 'UNAUTHORIZED', via === 'login' ? 'Invalid credentials' : 'Unauthorized');
    }
    await this.throttle.undo(SCOPE, ip, attempt.windowStart);
  }

  async login(password: string, ip: string): Promise<{ token: string; expires_at: string }> {
    await this.checkPassword(password, ip, 'login');
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

  /** Bearer admin JWT, or (opt-in) the seed's x-admin-password header. A bearer token wins when both are sent. */
  async verify(authorization: string | undefined, passwordHeader: string | undefined, ip = 'unknown'): Promise<{ actor: string }> {
    const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (!m) {
      if (!passwordHeader || !this.opts.allowPasswordHeader) throw new AppError('UNAUTHORIZED', 'Unauthorized');
      await this.checkPassword(passwordHeader, ip, 'x-admin-password');
      return { actor: 'admin' };
    }
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
