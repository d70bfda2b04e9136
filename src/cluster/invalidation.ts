import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Clock } from '../lib/clock.ts';
import type { Storage } from '../storage/db.ts';
import type { Database } from '../storage/types.ts';

export type InvalidationKind = 'key' | 'customer' | 'lanes' | 'pricing' | 'upstreams' | 'all';
export type InvalidationListener = (kind: InvalidationKind, target: string) => void;

const CHANNEL = 'kaixu_invalidate';
/** How long a skipped id is looked for (a transaction that long between insert and commit is not expected). */
const GAP_GRACE_MS = 60_000;
const MAX_GAPS = 10_000;
/** Rows are only needed until every node has polled them; keep an hour, prune every 10 minutes. */
const KEEP_MS = 3_600_000;
const PRUNE_EVERY_MS = 600_000;

/**
 * Tells every gateway process that cached state (keys, customers, lanes, pricing) changed.
 * Writers append a row to `invalidations` inside the same transaction as the change;
 * after commit, local listeners run at once and PostgreSQL NOTIFY wakes the other nodes.
 * Each node also polls the table (INVALIDATION_POLL_MS) so a lost notification is
 * caught up. Data-plane authorization does not rely on this alone: see keys/auth.ts.
 */
export class InvalidationBus {
  private listeners = new Set<InvalidationListener>();
  private lastId = 0;
  private timer?: NodeJS.Timeout;
  private listenClient?: pg.PoolClient;
  private polling = false;
  private gaps = new Map<number, number>();
  private lastPrune = Date.now();
  /** Tags this bus's own NOTIFYs: PostgreSQL also delivers them to the sender's LISTEN session. */
  private readonly instance = randomBytes(6).toString('hex');

  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    private readonly pollMs: number,
  ) {}

  on(fn: InvalidationListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Record the change inside the caller's transaction. Call `emit` after commit. */
  async record(trx: Kysely<Database>, kind: InvalidationKind, target: string): Promise<void> {
    await trx.insertInto('invalidations').values({ kind, target, created_at: this.clock.now() }).execute();
  }

  /** After commit: run local listeners now and wake the other nodes. */
  async emit(kind: InvalidationKind, target: string): Promise<void> {
    this.dispatch(kind, target);
    if (this.storage.pool) {
      await this.storage.pool.query('select pg_notify($1, $2)', [CHANNEL, `${this.instance}|${kind}:${target}`]).catch(() => undefined);
    }
  }

  private dispatch(kind: InvalidationKind, target: string) {
    for (const fn of this.listeners) {
      try {
        fn(kind, target);
      } catch {
        // A failing cache listener must not turn a committed change into an error response
        // (nor stop the other listeners); the poll and the strict auth check still apply.
      }
    }
  }

  async start(): Promise<void> {
    const row = await this.storage.db
      .selectFrom('invalidations')
      .select((eb) => eb.fn.max('id').as('max'))
      .executeTakeFirst();
    this.lastId = Number(row?.max ?? 0);
    if (this.storage.pool) {
      const client = await this.storage.pool.connect();
      this.listenClient = client;
      client.on('notification', (msg) => {
        const payload = msg.payload ?? '|all:';
        const bar = payload.indexOf('|');
        if (payload.slice(0, bar) === this.instance) return; // our own change: listeners already ran
        const [kind, ...rest] = payload.slice(bar + 1).split(':');
        this.dispatch(kind as InvalidationKind, rest.join(':'));
      });
      client.on('error', () => undefined);
      await client.query(`LISTEN ${CHANNEL}`);
    }
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  /**
   * Catch up on changes made by other nodes (fallback when a NOTIFY is missed).
   * PostgreSQL hands out ids at insert but rows appear at commit, so a lower id can show up
   * after a higher one: ids skipped over are remembered as gaps and looked for again until
   * GAP_GRACE_MS passes (a gap that never fills was a rolled-back transaction).
   */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const gapIds = [...this.gaps.keys()];
      const rows = await this.storage.db
        .selectFrom('invalidations')
        .select(['id', 'kind', 'target'])
        .where((eb) => (gapIds.length ? eb.or([eb('id', '>', this.lastId), eb('id', 'in', gapIds)]) : eb('id', '>', this.lastId)))
        .orderBy('id')
        .limit(1000)
        .execute();
      const now = Date.now();
      for (const r of rows) {
        const id = Number(r.id);
        if (id > this.lastId) {
          for (let g = this.lastId + 1; g < id && this.gaps.size < MAX_GAPS; g++) this.gaps.set(g, now);
          this.lastId = id;
        } else this.gaps.delete(id);
        this.dispatch(r.kind as InvalidationKind, r.target);
      }
      for (const [g, at] of this.gaps) if (now - at > GAP_GRACE_MS) this.gaps.delete(g);
      if (now - this.lastPrune > PRUNE_EVERY_MS) {
        this.lastPrune = now;
        await this.storage.db.deleteFrom('invalidations').where('created_at', '<', this.clock.now() - KEEP_MS).execute();
      }
    } catch {
      /* database briefly unavailable: try again next tick */
    } finally {
      this.polling = false;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.listenClient) {
      await this.listenClient.query(`UNLISTEN ${CHANNEL}`).catch(() => undefined);
      this.listenClient.release();
      this.listenClient = undefined;
    }
  }
}
