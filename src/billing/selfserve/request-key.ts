import type { AuditLog } from '../../audit/audit.ts';
import type { IssuedKey, KeyService } from '../../keys/service.ts';
import { customerFromRow, type Customer } from '../../keys/policy.ts';
import type { Clock } from '../../lib/clock.ts';
import { AppError } from '../../lib/errors.ts';
import { newId } from '../../lib/ids.ts';
import type { Throttle } from '../../lib/throttle.ts';
import { isUniqueViolation, type Db, type Dialect } from '../../storage/db.ts';
import type { CustomersTable } from '../../storage/types.ts';

export const SELF_SERVICE_KIND = 'self-service';
const ACTOR = 'self-service';
const HOUR_MS = 3_600_000;
/** The seed's shape check (`x@y.zz`), bounded. */
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]+\.[^\s@]{2,}$/;

export interface SelfServeDefaults {
  capCents: number;
  rpm: number;
  maxDevices: number;
  plan: string;
  perEmailPerHour: number;
  perIpPerHour: number;
}

export interface SelfServeResult {
  customer: Customer;
  issued: IssuedKey;
  created: boolean;
  revoked: string[];
}

/** Normalise and check an email; the seed's 400 message otherwise. */
export function normaliseEmail(raw: unknown): string {
  const email = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (email.length > 254 || !EMAIL_RE.test(email)) throw new AppError('BAD_REQUEST', 'A valid email address is required.');
  return email;
}

/**
 * `request-key`: a public self-service key generator. Creates the customer when needed
 * (DEFAULT_SELFSERVE_* defaults), issues a fresh `self-service` key and revokes that
 * customer's previous self-service keys (other keys, e.g. an admin-issued master key, stay).
 *
 * Concurrency: the customer row is locked for the transaction (PostgreSQL FOR UPDATE; SQLite
 * holds its single write lock), so two requests for one email run one after the other and the
 * later one revokes the earlier one's key. A first-time race on a new email hits the unique
 * email and retries once against the row that won.
 */
export class SelfServiceKeys {
  constructor(
    private readonly db: Db,
    private readonly dialect: Dialect,
    private readonly clock: Clock,
    private readonly keys: KeyService,
    private readonly audit: AuditLog,
    private readonly throttle: Throttle,
    private readonly d: SelfServeDefaults,
  ) {}

  /** Abuse guards: per client IP and per email, fixed one-hour windows shared by every node. */
  private async guard(email: string, ip: string): Promise<void> {
    const byIp = await this.throttle.hit('request_key_ip', ip, HOUR_MS);
    if (byIp.count > this.d.perIpPerHour) {
      throw new AppError('RATE_LIMITED', 'Too many key requests from this address. Please wait an hour before requesting again.', { retry_after: byIp.retryAfterS }, { 'retry-after': String(byIp.retryAfterS) });
    }
    const byEmail = await this.throttle.hit('request_key_email', email, HOUR_MS);
    if (byEmail.count > this.d.perEmailPerHour) {
      throw new AppError('RATE_LIMITED', 'Too many key requests. Please wait an hour before requesting again.', { retry_after: byEmail.retryAfterS }, { 'retry-after': String(byEmail.retryAfterS) });
    }
  }

  async request(rawEmail: unknown, ip: string): Promise<SelfServeResult> {
    const email = normaliseEmail(rawEmail);
    await this.guard(email, ip);
    let result: Omit<SelfServeResult, 'revoked'> & { previous: string[] };
    try {
      result = await this.issue(email, ip);
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      result = await this.issue(email, ip);
    }
    // KeyService.revoke runs its own transaction (audit + cross-node invalidation); it is
    // idempotent, so a concurrent request revoking the same key is harmless.
    for (const id of result.previous) await this.keys.revoke(id, { actor: ACTOR, ip }, 'KEY_REVOKE_ROTATION');
    return { customer: result.customer, issued: result.issued, created: result.created, revoked: result.previous };
  }

  private issue(email: string, ip: string) {
    return this.db.transaction().execute(async (trx) => {
      const q = trx.selectFrom('customers').selectAll().where('email', '=', email);
      let row = await (this.dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirst();
      let created = false;
      if (!row) {
        const now = this.clock.now();
        const fresh: CustomersTable = {
          id: newId('cus'),
          email,
          plan: this.d.plan,
          monthly_cap_cents: this.d.capCents,
          is_active: 1,
          cap_mode: 'hard',
          max_devices_per_key: null,
          require_install_id: 0,
          allowed_providers: null,
          allowed_models: null,
          rpm_limit: null,
          rpd_limit: null,
          created_at: now,
          updated_at: now,
        };
        await trx.insertInto('customers').values(fresh).execute();
        await this.audit.record(
          { actor: ACTOR, ip, action: 'CUSTOMER_CREATE', target: `customer:${fresh.id}`, customerId: fresh.id, summary: `self-service plan=${fresh.plan} cap=${fresh.monthly_cap_cents}` },
          trx,
        );
        row = fresh;
        created = true;
      }
      const customer = customerFromRow(row);
      if (!customer.is_active) throw new AppError('CUSTOMER_DISABLED', 'This account is suspended; contact the gateway operator.');
      const previous = await trx
        .selectFrom('api_keys')
        .select('id')
        .where('customer_id', '=', customer.id)
        .where('kind', '=', SELF_SERVICE_KIND)
        .where('revoked_at', 'is', null)
        .execute();
      const issued = await this.keys.issueIn(trx, customer.id, SELF_SERVICE_KIND, {
        label: 'self-service',
        role: 'deployer',
        rpm_limit: this.d.rpm,
        max_devices: this.d.maxDevices,
      });
      await this.audit.record(
        { actor: ACTOR, ip, action: 'KEY_CREATE', target: `key:${issued.api_key.id}`, customerId: customer.id, summary: `self-service last4=${issued.api_key.key_last4}` },
        trx,
      );
      return { customer, issued, created, previous: previous.map((p) => p.id) };
    });
  }
}
