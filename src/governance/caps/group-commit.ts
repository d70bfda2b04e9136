/**
 * Group commit for settles: calls that settle close together are written in ONE transaction
 * (one round trip on PostgreSQL, one commit on SQLite), and each caller's promise resolves only
 * after that transaction committed — so every answered call still has its usage record written
 * before its response completes. Nothing waits on a timer:
 * - `now()` says whether to write at once. When it does (nothing else pending, or a free write
 *   slot), the call is written immediately: concurrency 1 adds no latency.
 * - Otherwise the call queues. Queued calls are written together when a write slot frees up
 *   (PostgreSQL: the in-flight round trip returned) or at the end of the current event-loop turn
 *   (`setImmediate`: every settle that arrived in the same I/O phase shares the commit).
 * A failed batch is retried one call at a time when the failure is known to have rolled the whole
 * batch back (`retryable`), so one bad call cannot fail the others; otherwise each caller gets the
 * error (an ambiguous failure — e.g. a connection lost after COMMIT was sent — is never replayed,
 * which could charge twice).
 */
export interface GroupCommitOptions<I, O> {
  write(items: I[]): Promise<O[]>;
  /** Most writes in flight at once. */
  maxInFlight: number;
  maxBatch: number;
  /** Extra condition for writing a lone call at once (e.g. "no other call is in flight"). */
  alone?: () => boolean;
  /** True when the error proves nothing of the batch was written. */
  retryable(err: unknown): boolean;
  /** Called each time the last write in flight finished and nothing is queued. */
  onIdle?: () => void;
  /**
   * Writes one call synchronously (SQLite). When given, a call that is written at once while
   * nothing else is queued or being written goes straight to it: no queue, no promise chain
   * (and no onIdle: nothing was in flight before it or after it).
   */
  writeOne?(item: I): O;
}

interface Waiter<I, O> {
  item: I;
  resolve(o: O): void;
  reject(e: unknown): void;
}

export class GroupCommit<I, O> {
  private queue: Waiter<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  /** Batches written and calls in them (diagnostics, tests). */
  readonly stats = { batches: 0, items: 0, maxBatch: 0 };

  constructor(private readonly o: GroupCommitOptions<I, O>) {}

  /** Nothing queued and nothing on the wire. */
  get idle(): boolean {
    return !this.queue.length && !this.inFlight;
  }

  submit(item: I): Promise<O> {
    if (this.o.writeOne && !this.inFlight && !this.queue.length && (this.o.alone?.() ?? true)) return this.writeNow(this.o.writeOne, item);
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.inFlight < this.o.maxInFlight && this.queue.length === 1 && (this.o.alone?.() ?? true)) this.drain();
      else this.schedule();
    });
  }

  /** Resolves once everything submitted so far has been written (or failed). */
  flush(): Promise<void> {
    if (this.idle) return Promise.resolve();
    this.schedule();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain() {
    while (this.queue.length && this.inFlight < this.o.maxInFlight) {
      const batch = this.queue.splice(0, this.o.maxBatch);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        if (this.queue.length) this.drain();
        else if (!this.inFlight) {
          for (const r of this.idleWaiters.splice(0)) r();
          this.o.onIdle?.();
        }
      });
    }
  }

  private count(n: number) {
    this.stats.batches++;
    this.stats.items += n;
    this.stats.maxBatch = Math.max(this.stats.maxBatch, n);
  }

  private writeNow(writeOne: (item: I) => O, item: I): Promise<O> {
    this.count(1);
    try {
      return Promise.resolve(writeOne(item));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private async run(batch: Waiter<I, O>[]) {
    this.count(batch.length);
    try {
      const out = await this.o.write(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(out[i]!));
    } catch (e) {
      if (batch.length === 1 || !this.o.retryable(e)) {
        for (const w of batch) w.reject(e);
        return;
      }
      for (const w of batch) {
        try {
          w.resolve((await this.o.write([w.item]))[0]!);
        } catch (e1) {
          w.reject(e1);
        }
      }
    }
  }
}
