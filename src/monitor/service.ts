import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Storage } from '../storage/db.ts';
import { clientErrorEvent, eventFromRequest, type ClientErrorInput } from './events.ts';
import { MonitorRetention } from './retention.ts';
import { MonitorStore } from './store.ts';
import { MonitorTails } from './tail.ts';
import type { ObservedRequest } from './types.ts';
import { MonitorWriter, type WriterStats } from './writer.ts';

export interface MonitorOptions {
  nodeId: string;
  queueMax: number;
  flushMs: number;
  streamPollMs: number;
  pingMs: number;
  retentionDays: number;
  archiveDir?: string;
}

/** The monitor area: request observer → bounded writer → monitor_events; reads, tails, retention. */
export class MonitorService {
  readonly writer: MonitorWriter;
  readonly store: MonitorStore;
  readonly tails: MonitorTails;
  readonly retention: MonitorRetention;

  constructor(
    storage: Storage,
    private readonly clock: Clock,
    log: Logger,
    readonly opts: MonitorOptions,
  ) {
    this.writer = new MonitorWriter(storage, log, { queueMax: opts.queueMax, flushMs: opts.flushMs, nodeId: opts.nodeId });
    this.store = new MonitorStore(storage.db);
    this.tails = new MonitorTails(this.store, this.writer, clock, { pollMs: opts.streamPollMs, pingMs: opts.pingMs });
    this.retention = new MonitorRetention(storage.db, clock, { archiveDir: opts.archiveDir });
  }

  /** Request observer: one event per finished request, queued (never awaited). */
  readonly observe = (r: ObservedRequest): void => {
    this.writer.record(eventFromRequest(r, this.clock.now()));
  };

  recordClientError(x: ClientErrorInput): boolean {
    return this.writer.record(clientErrorEvent(x, this.clock.now()));
  }

  stats(): WriterStats & { streams_open: number; node_id: string } {
    return { ...this.writer.stats(), streams_open: this.tails.open, node_id: this.opts.nodeId };
  }

  start(): void {
    this.writer.start();
  }

  stop(): Promise<void> {
    return this.writer.stop();
  }
}
