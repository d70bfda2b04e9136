import { Worker } from 'node:worker_threads';
import type SQLite from 'better-sqlite3';

/**
 * WAL checkpoints of a SQLite file on a worker thread, so that the server's event loop does not
 * stop for them.
 *
 * SQLite in WAL mode appends every commit to `<db>-wal`; a checkpoint copies those frames back into
 * the database file. By default the connection that commits runs it, synchronously, once the WAL
 * holds 1 000 frames, and with `synchronous = NORMAL` that is the only time anything is synced:
 * the WAL before the copy, the database file after. On the bench VM a settle writes 6 frames, so
 * one call in ~170 stopped the event loop for 3–10 ms — nearly all of it those two fsyncs (measured:
 * 49 µs per commit on average with them, 21 µs with `synchronous = OFF`), and on network disks
 * fsyncs are slower still. Every in-flight request and stream waited for it.
 *
 * Here a second connection on a worker thread runs PASSIVE checkpoints (they never block writers)
 * whenever `batchFrames` wait to be copied — SQLite's own cadence, so under load no more syncs
 * than inline — and once the WAL has been still for `quietMs` with anything uncopied (one more
 * checkpoint per quiet spell, when a sync costs nobody anything). It looks at the WAL index
 * every `tickMs` while frames wait, every `idleMs` while none do. The server's own connection keeps
 * its automatic checkpoint only as a backstop, at `fallbackFrames`: a PASSIVE checkpoint cannot
 * copy frames committed while it runs, and the WAL starts over at frame 1 only when a commit finds
 * every frame copied, so under steady load the backstop is what bounds the WAL (to ≈
 * fallbackFrames × 4 KiB) — and when it runs, the worker has already copied and synced nearly all
 * of it. A quiet moment (most of a real server's life) lets the WAL start over with no checkpoint
 * on the event loop at all.
 *
 * Durability is unchanged: the same checkpoints with the same syncs, on another thread. If the
 * worker dies, the server's connection goes back to SQLite's default (1 000 frames).
 */
export interface WalCheckpointOptions {
  /** How often the worker looks at the WAL while frames wait to be copied (ms). */
  tickMs: number;
  /** How often it looks while none do (ms): bounds how late it notices load starting. */
  idleMs: number;
  /** Checkpoint once this many frames wait to be copied. */
  batchFrames: number;
  /** Checkpoint whatever waits once the WAL has not grown for this long (ms). */
  quietMs: number;
  /** The server connection's own automatic checkpoint threshold while the worker runs (frames). */
  fallbackFrames: number;
  /** Called once if the worker fails; the server connection has taken checkpoints back by then. */
  onFailure?: (err: Error) => void;
}

export interface WalCheckpointStats {
  running: boolean;
  /** Checkpoints the worker ran. */
  runs: number;
  /** WAL frames they copied into the database file. */
  frames: number;
  /** Time they took. */
  totalMs: number;
}

/** Layout of the buffer shared with the worker (wal-checkpoint-worker.js): a stop flag, then stats. */
const STOP = 0;
const STATS_OFFSET = 8;
const RUNS = 0;
const FRAMES = 1;
const TOTAL_MS = 2;
const STATS_SLOTS = 3;

/** SQLite's own default automatic checkpoint, restored when the worker is gone. */
const SQLITE_DEFAULT_FRAMES = 1000;

export const DEFAULT_WAL_CHECKPOINT: Omit<WalCheckpointOptions, 'onFailure'> = {
  tickMs: 100,
  idleMs: 250,
  batchFrames: SQLITE_DEFAULT_FRAMES,
  quietMs: 1000,
  fallbackFrames: 10_000,
};

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly shared = new SharedArrayBuffer(STATS_OFFSET + STATS_SLOTS * Float64Array.BYTES_PER_ELEMENT);
  private readonly control = new Int32Array(this.shared, 0, 1);
  private readonly view = new Float64Array(this.shared, STATS_OFFSET, STATS_SLOTS);
  private running = true;
  private stopping = false;

  constructor(
    private readonly handle: SQLite.Database,
    path: string,
    private readonly opts: WalCheckpointOptions,
  ) {
    handle.pragma(`wal_autocheckpoint = ${opts.fallbackFrames}`);
    this.worker = new Worker(new URL('./wal-checkpoint-worker.js', import.meta.url), {
      workerData: { path, tickMs: opts.tickMs, idleMs: opts.idleMs, batchFrames: opts.batchFrames, quietMs: opts.quietMs, shared: this.shared },
    });
    // Never what keeps a process alive: a checkpoint cut short by exit is safe (SQLite redoes it).
    this.worker.unref();
    this.worker.on('error', (e) => this.gone(e));
    this.worker.on('exit', (code) => this.gone(new Error(`WAL checkpoint worker exited with code ${code}`)));
  }

  private gone(err: Error): void {
    if (!this.running) return;
    this.running = false;
    if (this.stopping) return;
    if (this.handle.open) this.handle.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_FRAMES}`);
    this.opts.onFailure?.(err);
  }

  stats(): WalCheckpointStats {
    const v = this.view;
    return { running: this.running, runs: v[RUNS]!, frames: v[FRAMES]!, totalMs: v[TOTAL_MS]! };
  }

  /** Closes the worker's connection and ends the thread (before the server closes its own). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
    // The worker sleeps in Atomics.wait on this slot: waking it with the flag set ends its loop.
    Atomics.store(this.control, STOP, 1);
    Atomics.notify(this.control, STOP);
    const timer = setTimeout(() => void this.worker.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
