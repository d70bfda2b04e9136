import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './types.ts';
import { WalCheckpointer, type WalCheckpointOptions } from './wal-checkpointer.ts';

// int8 (bigint) and numeric come back as strings by default; our values fit in 2^53.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;

export interface Storage {
  db: Db;
  dialect: Dialect;
  /** The raw PostgreSQL pool (LISTEN/NOTIFY, advisory work); undefined on SQLite. */
  pool?: pg.Pool;
  /** The raw SQLite handle (prepared hot-path statements); undefined on PostgreSQL. */
  sqlite?: SQLite.Database;
  /** The worker that checkpoints a SQLite file's WAL, when one was asked for (wal-checkpointer.ts). */
  walCheckpointer?: WalCheckpointer;
  ping(): Promise<number>;
  close(): Promise<void>;
}

export type DatabaseTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

export interface StorageOptions {
  poolMax?: number;
  /** SQLite file only: run WAL checkpoints on a worker thread instead of in the committing call. */
  walCheckpoint?: WalCheckpointOptions;
}

export function openStorage(target: DatabaseTarget, opts: StorageOptions = {}): Storage {
  if (target.kind === 'sqlite') {
    if (target.path !== ':memory:') mkdirSync(dirname(target.path), { recursive: true });
    const handle = new SQLite(target.path);
    handle.pragma('journal_mode = WAL');
    handle.pragma('synchronous = NORMAL');
    handle.pragma('foreign_keys = ON');
    handle.pragma('busy_timeout = 5000');
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: handle }) });
    const walCheckpointer = opts.walCheckpoint && target.path !== ':memory:' ? new WalCheckpointer(handle, target.path, opts.walCheckpoint) : undefined;
    return {
      db,
      dialect: 'sqlite',
      sqlite: handle,
      walCheckpointer,
      async ping() {
        const t = performance.now();
        handle.prepare('select 1').get();
        return performance.now() - t;
      },
      async close() {
        // Its connection first: the last one to close checkpoints the WAL and removes it.
        await walCheckpointer?.stop();
        await db.destroy();
        // Kysely closes the handle only if it ever opened a connection through it.
        if (handle.open) handle.close();
      },
    };
  }
  const pool = new pg.Pool({
    connectionString: target.url,
    max: opts.poolMax ?? 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    // Neon and other poolers reject long-lived idle sockets; keep them alive.
    keepAlive: true,
  });
  pool.on('error', () => {
    /* idle client errors surface on next query */
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    dialect: 'postgres',
    pool,
    async ping() {
      const t = performance.now();
      await sql`select 1`.execute(db);
      return performance.now() - t;
    },
    async close() {
      await db.destroy();
    },
  };
}

/** True when a Kysely error is a unique-constraint violation on either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
