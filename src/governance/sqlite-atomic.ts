import type { Storage } from '../storage/db.ts';

/**
 * Run a synchronous better-sqlite3 transaction on the shared handle, safely next to Kysely.
 *
 * Kysely serializes its use of the single SQLite connection with a mutex, and a Kysely
 * transaction stays open across awaits. When no transaction is open our synchronous statements
 * cannot interleave with anything (one thread), so they run at once — the hot path. When one is
 * open, running now would silently join it (better-sqlite3 nests via SAVEPOINT) and be undone by
 * its rollback; instead we queue behind it by taking Kysely's connection.
 */
export function sqliteAtomic<T>(storage: Storage, tx: () => T): Promise<T> {
  const h = storage.sqlite!;
  if (!h.inTransaction) {
    try {
      return Promise.resolve(tx());
    } catch (e) {
      return Promise.reject(e);
    }
  }
  return storage.db.connection().execute(async () => tx());
}
