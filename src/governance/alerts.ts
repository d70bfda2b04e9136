import type { AuditLog } from '../audit/audit.ts';
import type { Logger } from '../lib/logger.ts';
import type { Db } from '../storage/db.ts';
import type { Clock } from '../lib/clock.ts';
import type { MonthView } from '../gateway/governance.ts';

export type AlertType = 'CAP_WARN_CUSTOMER' | 'CAP_WARN_KEY' | 'CAP_REACHED_CUSTOMER' | 'CAP_REACHED_KEY';

export interface AlertOptions {
  warnPct: number;
  webhookUrl?: string;
  webhookTimeoutMs?: number;
}

/**
 * Cap warnings at CAP_WARN_PCT and at 100 % (or when a call is refused for the cap), once per
 * month per scope across all nodes (the alerts_sent primary key decides): an audit event and an
 * optional webhook POST. Everything runs after the response path (setImmediate), fire-and-forget;
 * an in-memory set skips the database for alerts this node already saw.
 */
export class CapAlerts {
  private seen = new Set<string>();
  private pending = new Set<Promise<void>>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly log: Logger,
    private readonly opts: AlertOptions,
  ) {}

  /** After a settled call: check both scopes against the thresholds (pure arithmetic unless one is crossed). */
  observe(customerId: string, keyId: string, keyHasOwnCap: boolean, v: MonthView): void {
    this.scope('CUSTOMER', customerId, '', v.month, v.customer_cap_cents, v.customer_spent_cents, false);
    if (keyHasOwnCap) this.scope('KEY', customerId, keyId, v.month, v.key_cap_cents, v.key_spent_cents, false);
  }

  /** A call was refused for the cap of `scope`: that cap is reached. */
  refused(customerId: string, keyId: string, scope: 'customer' | 'key', v: MonthView): void {
    if (scope === 'customer') this.scope('CUSTOMER', customerId, '', v.month, v.customer_cap_cents, v.customer_spent_cents, true);
    else this.scope('KEY', customerId, keyId, v.month, v.key_cap_cents, v.key_spent_cents, true);
  }

  private scope(which: 'CUSTOMER' | 'KEY', customerId: string, keyId: string, month: string, capCents: number, spentCents: number, refused: boolean) {
    if (capCents <= 0 && !refused) return;
    const pct = capCents > 0 ? Math.floor((spentCents * 100) / capCents) : 100;
    if (pct >= this.opts.warnPct || refused) this.fire(`CAP_WARN_${which}`, customerId, keyId, month, capCents, spentCents, pct);
    if (pct >= 100 || refused) this.fire(`CAP_REACHED_${which}`, customerId, keyId, month, capCents, spentCents, pct);
  }

  private fire(type: AlertType, customerId: string, keyId: string, month: string, capCents: number, spentCents: number, pct: number) {
    const id = `${customerId}|${keyId}|${month}|${type}`;
    if (this.seen.has(id)) return;
    if (this.seen.size > 50_000) this.seen.clear();
    this.seen.add(id);
    const scope = keyId ? 'key' : 'customer';
    const payload: Record<string, unknown> = { type, month, customer_id: customerId, ...(keyId ? { api_key_id: keyId } : {}), [`${scope}_cap_cents`]: capCents, [`${scope}_spent_cents`]: spentCents, pct };
    const p = new Promise<void>((r) => setImmediate(r))
      .then(() => this.deliver(type, customerId, keyId, month, payload))
      .catch((e) => this.log.warn({ err: e, alert: type, customer_id: customerId }, 'cap alert failed'))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async deliver(type: AlertType, customerId: string, keyId: string, month: string, payload: Record<string, unknown>) {
    const res = await this.db
      .insertInto('alerts_sent')
      .values({ customer_id: customerId, api_key_id: keyId, month, alert_type: type, created_at: this.clock.now() })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0) === 0) return; // another node (or an earlier life of this one) sent it
    await this.audit.record({
      actor: 'system',
      action: type,
      target: keyId ? `key:${keyId}` : `customer:${customerId}`,
      customerId,
      summary: `${payload.pct}% of the ${keyId ? 'key' : 'customer'} cap for ${month}`,
      meta: payload,
    });
    if (this.opts.webhookUrl) await this.post(payload);
  }

  private async post(payload: Record<string, unknown>) {
    const res = await fetch(this.opts.webhookUrl!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'kaixu-gateway-alerts' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(this.opts.webhookTimeoutMs ?? 5_000),
    });
    await res.body?.cancel();
    if (!res.ok) this.log.warn({ status: res.status, alert: payload.type }, 'alert webhook answered non-2xx');
  }

  /** Wait for in-flight alerts (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}
