import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Storage } from '../storage/db.ts';
import { probeHealth, type ProbeResult } from './probe.ts';

export interface HeartbeatRecord extends ProbeResult {
  slot_start: number;
  time: number;
  node_id: string | null;
}

export interface HeartbeatOptions {
  intervalMs: number;
  timeoutMs: number;
  nodeId: string;
  /** HEARTBEAT_URL; otherwise the server sets its own /health URL once it listens. */
  url?: string;
}

export interface HeartbeatHistory {
  interval_ms: number;
  window_hours: number;
  total: number;
  ok_count: number;
  /** ok / total × 100, two decimals; null when there is no record in the window. */
  uptime_pct: number | null;
  last: HeartbeatRecord | null;
  failures: { streak: number; last_failure: number | null; last_ok: number | null };
  /** Newest first. */
  items: HeartbeatRecord[];
}

/**
 * The gateway's own heartbeat. `beat(slot)` runs as the durable job `heartbeat` once per
 * HEARTBEAT_INTERVAL slot (whichever node claims it); the slot start is the row's primary key,
 * so even a re-run of the same slot never adds a second record.
 */
export class HeartbeatService {
  private url?: string;

  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly opts: HeartbeatOptions,
    private readonly fetchImpl?: typeof fetch,
  ) {
    this.url = opts.url;
  }

  /** The server's own health URL, used when HEARTBEAT_URL is not set. */
  useSelfUrl(url: string): void {
    if (!this.opts.url) this.url = url;
  }

  get target(): string | undefined {
    return this.url;
  }

  probe(): Promise<ProbeResult> {
    return probeHealth({ url: this.url, timeoutMs: this.opts.timeoutMs, pingDb: () => this.storage.ping(), fetch: this.fetchImpl });
  }

  /** Probe and record the heartbeat of one interval slot. False when the slot already had one. */
  async beat(slot: number): Promise<{ recorded: boolean; result: ProbeResult }> {
    const result = await this.probe();
    const r = await this.storage.db
      .insertInto('heartbeats')
      .values({
        slot_start: slot,
        created_at: this.clock.now(),
        ok: result.ok ? 1 : 0,
        http_status: result.http_status,
        db_ok: result.db_ok ? 1 : 0,
        response_ms: result.response_ms,
        error: result.error?.slice(0, 500) ?? null,
        error_type: result.error_type,
        node_id: this.opts.nodeId,
      })
      .onConflict((oc) => oc.column('slot_start').doNothing())
      .executeTakeFirst();
    const recorded = Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
    if (!result.ok) this.log.warn({ slot, error: result.error, error_type: result.error_type }, 'heartbeat failed');
    return { recorded, result };
  }

  async history(hours = 24): Promise<HeartbeatHistory> {
    const since = this.clock.now() - hours * 3_600_000;
    const rows = await this.storage.db.selectFrom('heartbeats').selectAll().where('created_at', '>=', since).orderBy('slot_start', 'desc').execute();
    const items: HeartbeatRecord[] = rows.map((r) => ({
      slot_start: Number(r.slot_start),
      time: Number(r.created_at),
      ok: Number(r.ok) === 1,
      http_status: r.http_status == null ? null : Number(r.http_status),
      db_ok: Number(r.db_ok) === 1,
      response_ms: r.response_ms == null ? null : Number(r.response_ms),
      error: r.error,
      error_type: r.error_type as ProbeResult['error_type'],
      node_id: r.node_id,
    }));
    const okCount = items.filter((i) => i.ok).length;
    let streak = 0;
    while (streak < items.length && !items[streak]!.ok) streak++;
    return {
      interval_ms: this.opts.intervalMs,
      window_hours: hours,
      total: items.length,
      ok_count: okCount,
      uptime_pct: items.length ? Math.round((okCount / items.length) * 10_000) / 100 : null,
      last: items[0] ?? null,
      failures: { streak, last_failure: items.find((i) => !i.ok)?.time ?? null, last_ok: items.find((i) => i.ok)?.time ?? null },
      items,
    };
  }

  async prune(olderThanMs: number): Promise<number> {
    const r = await this.storage.db.deleteFrom('heartbeats').where('created_at', '<', this.clock.now() - olderThanMs).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
