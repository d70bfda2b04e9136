// The worker thread of wal-checkpointer.ts: PASSIVE checkpoints of one SQLite file, off the
// server's event loop. Plain JavaScript so it needs no loader in any runtime (tsx, vitest, node).
//
// No event loop, no timers: the thread sleeps in Atomics.wait between looks at the WAL, so an idle
// server's worker wakes exactly once per look (a timer loop also woke V8's helper threads).
import { Buffer } from 'node:buffer';
import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { performance } from 'node:perf_hooks';
import { workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** Layout of the shared buffer; the same list is in wal-checkpointer.ts. */
const STOP = 0; // Int32 slot: 1 = close and end
const STATS_OFFSET = 8; // then Float64 slots:
const RUNS = 0;
const FRAMES = 1;
const TOTAL_MS = 2;

const { path, tickMs, idleMs, batchFrames, quietMs, shared } = workerData;
const control = new Int32Array(shared, 0, 1);
const s = new Float64Array(shared, STATS_OFFSET);
// Same sync level as the server's connection: a checkpoint syncs the WAL before it copies frames
// and the database file after, so copied pages are durable before the WAL can be reused.
const db = new Database(path, { fileMustExist: true, timeout: 0 });
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');

/**
 * How far the WAL is written and copied, read from the WAL index (`<db>-shm`, shared memory that
 * every connection maps): mxFrame at byte 16 of its header, nBackfill at byte 96, both 32-bit in
 * the machine's byte order (https://www.sqlite.org/walformat.html#the_wal_index_file_format).
 * One pread and no lock; they only decide when to checkpoint. false while there is no WAL index.
 */
const shmBuf = Buffer.alloc(100);
const u32 = endianness() === 'LE' ? (o) => shmBuf.readUInt32LE(o) : (o) => shmBuf.readUInt32BE(o);
let shmFd;
function readWalIndex() {
  try {
    shmFd ??= openSync(`${path}-shm`, 'r');
    return readSync(shmFd, shmBuf, 0, 100, 0) === 100;
  } catch {
    return false;
  }
}

function checkpoint(copiedBefore) {
  const t0 = performance.now();
  const [r] = db.pragma('wal_checkpoint(PASSIVE)');
  s[RUNS]++;
  s[FRAMES] += Math.max(r.checkpointed - copiedBefore, 0);
  s[TOTAL_MS] += performance.now() - t0;
}

/**
 * Checkpoint once `batchFrames` wait to be copied (SQLite's own cadence, so under load no more
 * syncs than inline), or once the WAL has been still for `quietMs` with anything uncopied: then the next
 * commit finds it all copied and starts the WAL over, and a quiet server never checkpoints on its
 * event loop at all. Look every tickMs while frames wait; backing off to idleMs while none do.
 */
let delay = tickMs;
let lastWritten = -1;
let stillSince = performance.now();
while (Atomics.wait(control, STOP, 0, delay) === 'timed-out') {
  let waiting = 0;
  if (readWalIndex()) {
    const written = u32(16);
    const copied = u32(96);
    const now = performance.now();
    if (written !== lastWritten) stillSince = now;
    lastWritten = written;
    waiting = written - copied;
    if (waiting >= batchFrames || (waiting > 0 && now - stillSince >= quietMs)) {
      checkpoint(copied);
      waiting = 0;
    }
  }
  delay = waiting > 0 ? tickMs : Math.min(delay * 2, idleMs);
}
if (shmFd !== undefined) closeSync(shmFd);
db.close();
