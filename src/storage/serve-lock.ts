import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import SQLite from 'better-sqlite3';

/**
 * One serving process per SQLite file.
 *
 * On SQLite the gateway keeps cap reservations and rate-limit counters in its own memory (see
 * governance/caps/sqlite.ts): that is what makes admission one synchronous step, and it is exact
 * only while a single process serves the file. A second `kaixu serve` on the same file would keep
 * its own holds and counters, and the two together could spend past a cap. So serving holds an
 * exclusive SQLite lock on `<db>.serve.lock` for the life of the process, and a second server
 * refuses to start with a clear message; several nodes run on PostgreSQL.
 *
 * The lock is the operating system's (SQLite's fcntl lock): it goes away with the process however
 * that ends, so a crashed gateway leaves nothing stale and two servers starting at the same instant
 * cannot both win. Servers in one process (tests) share their holds, and share the lock.
 */
export interface ServeLock {
  release(): void;
}

export class ServeLockError extends Error {}

const held = new Map<string, { db: SQLite.Database; count: number }>();

/**
 * `kaixu migrate` takes the same lock: migrating a file a gateway is serving would change the
 * schema under the running process, so it is refused the same way (the server migrates itself when
 * it starts). The holder note says which of the two holds the file, so a server started during a
 * migration is told to wait for it rather than to stop "another gateway".
 */
export function acquireServeLock(dbPath: string, purpose: 'serve' | 'migrate' = 'serve'): ServeLock {
  const file = `${dbPath}.serve.lock`;
  const who = `${file}.holder`;
  let entry = held.get(file);
  if (!entry) {
    const db = new SQLite(file, { timeout: 0 });
    try {
      // EXCLUSIVE locking mode keeps the lock taken by the first write until the connection closes.
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('create table if not exists holder (pid integer, host text, started_at text); delete from holder');
    } catch (e) {
      db.close();
      if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw e;
      throw new ServeLockError(refusal(dbPath, purpose, readHolder(who)));
    }
    // A note for the message a refused second server prints (the lock itself is the SQLite one).
    writeFileSync(who, `${purpose}: pid ${process.pid} on ${hostname()}, since ${new Date().toISOString()}`, { mode: 0o600 });
    entry = { db, count: 0 };
    held.set(file, entry);
  }
  entry.count++;
  let done = false;
  return {
    release() {
      if (done) return;
      done = true;
      const e = held.get(file);
      if (!e || --e.count > 0) return;
      held.delete(file);
      e.db.close();
    },
  };
}

interface Holder {
  purpose: 'serve' | 'migrate';
  /** "pid … on …, since …", or "another process" when the note cannot be read. */
  who: string;
}

const STALE_RETRIES = 10;
const STALE_WAIT_MS = 20;

/**
 * The holder note, `<purpose>: pid … on …, since …` (a note without the purpose is a server's).
 * The holder writes it just after taking the lock, so a process refused in that instant may find
 * the previous holder's note: one naming a process of this host that no longer runs. It is read
 * again for a moment, then left out of the message.
 */
function readHolder(file: string): Holder {
  for (let i = 0; ; i++) {
    let note = '';
    try {
      note = readFileSync(file, 'utf8').trim();
    } catch {
      /* no holder note: the message stays generic */
    }
    const m = /^(serve|migrate): (.+)$/.exec(note);
    const holder: Holder = m ? { purpose: m[1] as Holder['purpose'], who: m[2]! } : { purpose: 'serve', who: note || 'another process' };
    if (!isStale(holder.who)) return holder;
    if (i === STALE_RETRIES) return { purpose: 'serve', who: 'another process' };
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, STALE_WAIT_MS);
  }
}

/** "pid N on <this host>, …" where process N is gone. */
function isStale(who: string): boolean {
  const m = /^pid (\d+) on (\S+),/.exec(who);
  if (!m || m[2] !== hostname()) return false;
  try {
    process.kill(Number(m[1]), 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function refusal(dbPath: string, purpose: Holder['purpose'], holder: Holder): string {
  if (holder.purpose === 'migrate') {
    return purpose === 'migrate'
      ? `Another \`kaixu migrate\` (${holder.who}) is migrating ${dbPath}: wait for it to finish.`
      : `\`kaixu migrate\` (${holder.who}) is migrating ${dbPath}: start the gateway once it has finished.`;
  }
  if (purpose === 'migrate') {
    return `A kaixu gateway (${holder.who}) is serving ${dbPath}: stop it before migrating the file (a gateway migrates its database when it starts).`;
  }
  return (
    `Another kaixu gateway (${holder.who}) is serving ${dbPath}. SQLite runs one gateway process, since its caps and ` +
    'rate limits live in that process: stop the other one, or run several nodes on PostgreSQL (DATABASE_URL=postgres://…).'
  );
}
