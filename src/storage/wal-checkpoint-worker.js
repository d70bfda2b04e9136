// The worker thread of wal-checkpointer.ts: PASSIVE checkpoints of one SQLite file, off the
// server's event loop. Plain JavaScript so it needs no loader in any runtime (tsx, vitest, node).
import { Buffer } from 'node:buffer';
import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { performance } from 'node:perf_hooks';
import { clearTimeout, setTimeout } from 'node:timers';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** Slots of the shared stats array; the same list is in wal-checkpointer.ts. */
const RUNS = 0;
const FRAMES = 1;
const BUSY = 2;
const TOTAL_MS = 3;
const MAX_MS = 4;

const { path, tickMs, idleMs, batchFrames, quietMs, stats } = workerData;
const s = new Float64Array(stats);
// Same sync level as the server's connection: a checkpoint syncs the WAL before it copies frames
// and the database file after, so copied pages are durable before the WAL can be reused.
const db = new Database(path, { fileMustExist: true, timeout: 0 });
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');

/**
 * How far the WAL is written and copied, read from the WAL index (`<db>-shm`, shared memory that
 * every connection maps): mxFrame at byte 16 of its header, nBackfill at byte 96, both 32-bit in
 * the machine's byte order (https://www.sqlite.org/walformat.html#the_wal_index_file_format).
 * Reading them costs one pread and no lock; they only decide when to checkpoint. null while
 * there is no WAL index yet.
 */
const shmBuf = Buffer.alloc(100);
const le = endianness() === 'LE';
let shmFd;
function walState() {
  try {
    shmFd ??= openSync(`${path}-shm`, 'r');
    if (readSync(shmFd, shmBuf, 0, 100, 0) < 100) return null;
  } catch {
    return null;
  }
  const u32 = (o) => (le ? shmBuf.readUInt32LE(o) : shmBuf.readUInt32BE(o));
  return { written: u32(16), copied: u32(96) };
}

function checkpoint(copiedBefore) {
  const t0 = performance.now();
  const [r] = db.pragma('wal_checkpoint(PASSIVE)');
  const ms = performance.now() - t0;
  s[RUNS]++;
  s[FRAMES] += Math.max(r.checkpointed - copiedBefore, 0);
  if (r.busy) s[BUSY]++;
  s[TOTAL_MS] += ms;
  if (ms > s[MAX_MS]) s[MAX_MS] = ms;
}

/**
 * Checkpoint once `batchFrames` wait to be copied (SQLite's own cadence, so no more syncs than
 * inline), or once the WAL has been still for `quietMs` with anything uncopied: then the next
 * commit finds it all copied and starts the WAL over, and a quiet server never checkpoints on its
 * event loop at all. Look every tickMs while frames wait; backing off to idleMs while none do.
 */
let delay = tickMs;
let lastWritten = -1;
let stillSince = performance.now();
function tick() {
  const w = walState();
  const now = performance.now();
  let waiting = 0;
  if (w) {
    if (w.written !== lastWritten) stillSince = now;
    lastWritten = w.written;
    waiting = w.written - w.copied;
    if (waiting >= batchFrames || (waiting > 0 && now - stillSince >= quietMs)) {
      checkpoint(w.copied);
      waiting = 0;
    }
  }
  delay = waiting > 0 ? tickMs : Math.min(delay * 2, idleMs);
  timer = setTimeout(tick, delay);
}
let timer = setTimeout(tick, delay);

parentPort.on('message', (m) => {
  if (m !== 'close') return;
  clearTimeout(timer);
  if (shmFd !== undefined) closeSync(shmFd);
  db.close();
  parentPort.close();
});
