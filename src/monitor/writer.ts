import type SQLite from 'better-sqlite3';
import type { Logger } from '../lib/logger.ts';
import type { Storage } from '../storage/db.ts';
import type { NewMonitorEvent } from './types.ts';

export interface WriterOptions {
  /** Most events held in memory; beyond it new events are dropped (and counted). */
  queueMax: number;
  flushMs: number;
  nodeId: string;
  /** Rows per INSERT (22 columns × 500 stays under both dialects' parameter limits). */
  batchSize?: number;
}

export interface WriterStats {
  queue_depth: number;
  queue_max: number;
  dropped: number;
  written: number;
  write_errors: number;
  batches: number;
}

/** A batch that failed this many times in a row is dropped (counted), so one bad row cannot wedge the queue. */
const MAX_BATCH_FAILURES = 3;

export const COLUMNS = [
  'created_at', 'request_id', 'level', 'kind', 'operation', 'method', 'path', 'status', 'duration_ms', 'app', 'build', 'customer_id',
  'api_key_id', 'provider', 'model', 'upstream_status', 'error_code', 'error_message', 'body_preview', 'ip', 'user_agent', 'extra',
] as const satisfies readonly (keyof NewMonitorEvent)[];

/**
 * An event's values in COLUMNS order (a missing one as NULL), then the node id: one row of the
 * insert. Spelled out, as caps/types.ts eventRow: `e[COLUMNS[i]]` is a megamorphic keyed load per
 * column, ≈ 5 k of the ≈ 60 k instructions a row cost on SQLite (bench/README.md, "What a settle
 * costs SQLite"). test/observability/writer.test.ts holds the order to COLUMNS.
 */
export function monitorRow(e: NewMonitorEvent, nodeId: string): unknown[] {
  return [
    e.created_at,
    e.request_id ?? null,
    e.level,
    e.kind,
    e.operation ?? null,
    e.method ?? null,
    e.path ?? null,
    e.status ?? null,
    e.duration_ms ?? null,
    e.app ?? null,
    e.build ?? null,
    e.customer_id ?? null,
    e.api_key_id ?? null,
    e.provider ?? null,
    e.model ?? null,
    e.upstream_status ?? null,
    e.error_code ?? null,
    e.error_message ?? null,
    e.body_preview ?? null,
    e.ip ?? null,
    e.user_agent ?? null,
    e.extra ?? null,
    nodeId,
  ];
}

/** Column types of monitor_events (migration 005), for the PostgreSQL arrays. */
const PG_TYPES: Record<(typeof COLUMNS)[number], 'bigint' | 'integer' | 'text'> = {
  created_at: 'bigint',
  request_id: 'text',
  level: 'text',
  kind: 'text',
  operation: 'text',
  method: 'text',
  path: 'text',
  status: 'integer',
  duration_ms: 'integer',
  app: 'text',
  build: 'text',
  customer_id: 'text',
  api_key_id: 'text',
  provider: 'text',
  model: 'text',
  upstream_status: 'integer',
  error_code: 'text',
  error_message: 'text',
  body_preview: 'text',
  ip: 'text',
  user_agent: 'text',
  extra: 'text',
};

interface BatchWriter {
  write(batch: NewMonitorEvent[], nodeId: string): Promise<void>;
  /** True while the shared SQLite connection is inside someone's transaction: write later. */
  busy(): boolean;
}

/**
 * SQLite writes run on this thread, so they use one prepared single-row statement inside one
 * transaction per batch (a few µs per row, most of it index upkeep). Multi-row statements
 * (8 or 16 rows) were measured too: ~0.6 µs more CPU per row on this path, so not used.
 * PostgreSQL gets one INSERT … SELECT FROM unnest(one array per column) per batch: one round trip,
 * and one fixed text whatever the batch size, so each connection parses and plans it once. A
 * multi-row VALUES list (one parameter per cell) was a new statement for every batch size, parsed
 * and planned each time: in 400-row batches it cost the database 34–38 µs of CPU per row against
 * 20–21, and this process 14 µs per row against 9 (bench/README.md, "PostgreSQL's own CPU").
 */
function batchWriter(storage: Storage): BatchWriter {
  const raw = storage.sqlite;
  if (raw) {
    let stmt: SQLite.Statement<unknown[]> | undefined; // prepared on first use (after migrations)
    const insertAll = raw.transaction((batch: NewMonitorEvent[], nodeId: string) => {
      stmt ??= raw.prepare(`insert into monitor_events (${COLUMNS.join(', ')}, node_id) values (${COLUMNS.map(() => '?').join(', ')}, ?)`);
      // As arguments, not one array: better-sqlite3 reads an array through a V8 API call per
      // element (caps/sqlite.ts, insEvent).
      for (const e of batch) stmt.run(...monitorRow(e, nodeId));
    });
    return { write: async (batch, nodeId) => insertAll(batch, nodeId), busy: () => raw.inTransaction };
  }
  const pool = storage.pool;
  if (!pool) throw new Error('monitor writer: storage has neither a SQLite handle nor a PostgreSQL pool');
  // Plain parameterised SQL: building the same INSERT through the query builder cost ~5 µs of CPU per row.
  const text =
    `insert into monitor_events (${COLUMNS.join(', ')}, node_id) ` +
    `select *, $${COLUMNS.length + 1}::text from unnest(${COLUMNS.map((c, i) => `$${i + 1}::${PG_TYPES[c]}[]`).join(', ')})`;
  return {
    write: async (batch, nodeId) => {
      const rows = batch.map((e) => monitorRow(e, nodeId));
      const values: unknown[] = COLUMNS.map((_, i) => rows.map((r) => r[i]));
      values.push(nodeId);
      await pool.query({ name: 'kaixu_monitor_insert', text, values });
    },
    busy: () => false,
  };
}

/**
 * Monitor events are written off the request path: `record` only appends to a bounded
 * in-memory queue (never awaits, never blocks); a timer flushes it in multi-row INSERTs. The timer
 * is armed by the first event after a flush, not repeating: an idle gateway does not wake for it.
 * When the queue is full the new event is dropped and counted, so a slow database costs
 * monitoring detail, never request latency. Every recorded event ends up written or
 * dropped: written + dropped + queue_depth == recorded.
 */
export class MonitorWriter {
  private queue: NewMonitorEvent[] = [];
  private timer?: NodeJS.Timeout;
  private started = false;
  private flushing?: Promise<void>;
  private batchFailures = 0;
  private listeners = new Set<() => void>();
  private readonly batchSize: number;
  private readonly writer: BatchWriter;
  private counters = { dropped: 0, written: 0, write_errors: 0, batches: 0 };

  constructor(
    storage: Storage,
    private readonly log: Logger,
    private readonly opts: WriterOptions,
  ) {
    this.batchSize = opts.batchSize ?? 500;
    this.writer = batchWriter(storage);
  }

  /** Queue one event. Returns false when it was dropped because the queue is full. */
  record(e: NewMonitorEvent): boolean {
    if (this.queue.length >= this.opts.queueMax) {
      this.counters.dropped++;
      return false;
    }
    this.queue.push(e);
    if (this.started && !this.timer) this.arm();
    return true;
  }

  private arm(): void {
    this.timer = setTimeout(this.tick, this.opts.flushMs);
    this.timer.unref();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    // Whatever is still queued afterwards (a batch put back to retry, or a flush that had to yield).
    void this.flush().finally(() => {
      if (this.started && this.queue.length && !this.timer) this.arm();
    });
  };

  stats(): WriterStats {
    return { queue_depth: this.queue.length, queue_max: this.opts.queueMax, ...this.counters };
  }

  /** Called after each flush that wrote rows (live tails wake on it). */
  onWritten(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.queue.length) this.arm();
  }

  /** Write everything queued so far. Concurrent callers share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Stop the timer and write what is left (shutdown). */
  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    // A flush that was already running when stop() began may have left a tail behind.
    if (this.queue.length) await this.flush();
  }

  private async drain(): Promise<void> {
    let wrote = false;
    // Joining another caller's open SQLite transaction would tie our rows to its fate.
    while (this.queue.length && !this.writer.busy()) {
      const batch = this.queue.splice(0, this.batchSize);
      try {
        await this.writer.write(batch, this.opts.nodeId);
        this.counters.written += batch.length;
        this.batchFailures = 0;
        wrote = true;
      } catch (err) {
        this.counters.write_errors++;
        this.batchFailures++;
        if (this.batchFailures >= MAX_BATCH_FAILURES) {
          this.counters.dropped += batch.length;
          this.batchFailures = 0;
          this.log.warn({ err, rows: batch.length }, 'monitor batch dropped after repeated write failures');
        } else {
          // Put it back (as much as fits) and let the next tick retry.
          const room = Math.max(0, this.opts.queueMax - this.queue.length);
          const keep = batch.slice(0, room);
          this.counters.dropped += batch.length - keep.length;
          this.queue.unshift(...keep);
          this.log.warn({ err, rows: batch.length }, 'monitor batch write failed; will retry');
        }
        break;
      }
      this.counters.batches++;
    }
    if (wrote) for (const fn of this.listeners) fn();
  }
}
