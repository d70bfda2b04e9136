import type { Clock } from '../lib/clock.ts';
import type { MonitorEventView, MonitorStore } from './store.ts';
import type { MonitorFilter } from './types.ts';
import type { MonitorWriter } from './writer.ts';

export type TailFrame = { type: 'events'; events: MonitorEventView[] } | { type: 'ping'; t: number } | { type: 'warn'; error: string };

export interface TailOptions {
  /** How often to look for rows written by other nodes. */
  pollMs: number;
  pingMs: number;
  /** Rows per read. */
  batch?: number;
}

/** Resolves after `ms`, on abort, or when `subscribe` fires, whichever comes first. */
function waitFor(ms: number, signal: AbortSignal, subscribe: (fn: () => void) => () => void): Promise<void> {
  return new Promise((resolve) => {
    let off = () => {};
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      off();
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    off = subscribe(done);
  });
}

/**
 * Live tails of the monitor table. A tail follows new rows in id order with the same filters
 * as the list API; it wakes at once when this node flushes events and polls (pollMs) for rows
 * written by other nodes. It ends when `signal` aborts (client gone, or server draining).
 */
export class MonitorTails {
  private openCount = 0;

  constructor(
    private readonly store: MonitorStore,
    private readonly writer: MonitorWriter,
    private readonly clock: Clock,
    private readonly opts: TailOptions,
  ) {}

  get open(): number {
    return this.openCount;
  }

  async *follow(filter: MonitorFilter, afterId: number, signal: AbortSignal): AsyncGenerator<TailFrame> {
    const batch = this.opts.batch ?? 200;
    let after = afterId;
    let lastPing = performance.now();
    this.openCount++;
    try {
      while (!signal.aborted) {
        let page: Awaited<ReturnType<MonitorStore['list']>>;
        try {
          page = await this.store.list({ ...filter, afterId: after }, batch);
        } catch {
          if (signal.aborted) return;
          yield { type: 'warn', error: 'Monitor read failed; retrying' };
          await waitFor(this.opts.pollMs, signal, () => () => {});
          continue;
        }
        if (signal.aborted) return;
        if (page.events.length) {
          after = page.next_after_id;
          yield { type: 'events', events: page.events };
          if (page.has_more) continue;
        }
        const sincePing = performance.now() - lastPing;
        if (sincePing >= this.opts.pingMs) {
          lastPing = performance.now();
          yield { type: 'ping', t: this.clock.now() };
          continue;
        }
        await waitFor(Math.min(this.opts.pollMs, this.opts.pingMs - sincePing), signal, (fn) => this.writer.onWritten(fn));
      }
    } finally {
      this.openCount--;
    }
  }
}
