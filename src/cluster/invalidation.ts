import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { Clock } from '../lib/clock.ts';
import type { Storage } from '../storage/db.ts';
import type { Database } from '../storage/types.ts';

export type InvalidationKind = 'key' | 'customer' | 'lanes' | 'pricing' | 'upstreams' | 'all';
export type InvalidationListener = (kind: InvalidationKind, target: string) => void;

const CHANNEL = 'kaixu_invalidate';

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
      await this.storage.pool.query('select pg_notify($1, $2)', [CHANNEL, `${kind}:${target}`]).catch(() => undefined);
    }
  }

  private dispatch(kind: InvalidationKind, target: string) {
    for (const fn of this.listeners) fn(kind, target);
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
        const [kind, ...rest] = (msg.payload ?? 'all:').split(':');
        this.dispatch(kind as InvalidationKind, rest.join(':'));
      });
      client.on('error', () => undefined);
      await client.query(`LISTEN ${CHANNEL}`);
    }
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  /** Catch up on changes made by other nodes (fallback when a NOTIFY is missed). */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const rows = await this.storage.db
        .selectFrom('invalidations')
        .select(['id', 'kind', 'target'])
        .where('id', '>', this.lastId)
        .orderBy('id')
        .limit(1000)
        .execute();
      for (const r of rows) {
        this.lastId = Number(r.id);
        this.dispatch(r.kind as InvalidationKind, r.target);
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
