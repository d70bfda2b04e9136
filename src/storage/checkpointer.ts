import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints off the request thread.
 *
 * better-sqlite3 is synchronous: with SQLite's own auto-checkpoint, the commit that crosses
 * 1000 WAL pages copies them into the database file and fsyncs both files before it returns,
 * stalling that request and every request queued behind it for milliseconds. Instead a worker
 * thread with its own connection to the same file runs a PASSIVE checkpoint every `intervalMs`
 * (PASSIVE never blocks the writer or readers; frames still in use are copied next time).
 * Copying often is also less work in total: a page written by many commits (the monthly
 * aggregates, the ledger's rightmost leaves) is copied once per checkpoint, not once per commit.
 *
 * The request connection keeps a high auto-checkpoint threshold as a safety net (see db.ts), so
 * the WAL stays bounded even if the worker stops. Durability is unchanged: commits are as
 * durable as synchronous=NORMAL makes them, with or without this worker.
 */
export interface Checkpointer {
  /** Run one last checkpoint, close the worker's connection and end the thread. */
  stop(): Promise<void>;
}

/** The worker's code (CommonJS, evaluated): everything it needs comes in workerData. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = NORMAL');
const run = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (e) { parentPort.postMessage({ error: String(e && e.code || e) }); }
};
const timer = setInterval(run, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  run();
  db.close();
  parentPort.close();
});
`;

export function startCheckpointer(path: string, intervalMs: number, onError: (code: string) => void = () => undefined): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { path, intervalMs, driver } });
  // Never keeps the process alive by itself; close() ends it explicitly.
  worker.unref();
  worker.on('message', (m: { error?: string }) => m.error && onError(m.error));
  worker.on('error', (e) => onError(e.message));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        worker.postMessage('stop');
        const t = setTimeout(() => void worker.terminate(), 5_000);
        await exited;
        clearTimeout(t);
      })();
      return stopping;
    },
  };
}
