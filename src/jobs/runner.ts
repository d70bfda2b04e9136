import { randomBytes } from 'node:crypto';
import type { Clock } from '../lib/clock.ts';
import { scrub, type Logger } from '../lib/logger.ts';
import type { Storage } from '../storage/db.ts';
import { backoffMs } from './backoff.ts';
import { JobStore } from './store.ts';
import type { EnqueueOptions, EnqueueResult, Executor, Job, JobHandler, KindOptions } from './types.ts';

export interface RunnerOptions {
  nodeId: string;
  pollMs: number;
  leaseMs: number;
  concurrency: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  random?: () => number;
}

export interface JobOutcome {
  job: Job;
  outcome: 'succeeded' | 'failed' | 'dead';
  durationMs: number;
  error?: string;
}

interface Registered {
  handler: JobHandler<never>;
  opts: KindOptions;
}

interface Running {
  job: Job;
  owner: string;
  ac: AbortController;
  /** Why the handler's signal was aborted, if it was. */
  reason?: 'lease' | 'timeout' | 'stop';
  promise: Promise<void>;
}

const errorText = (e: unknown) => scrub(e instanceof Error ? e.message || e.name : String(e));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * Durable background jobs: rows in `jobs`, claimed with a lease, retried with exponential
 * backoff and jitter, dead after max attempts. Any number of nodes may run a JobRunner on one
 * database: a claim is atomic (SKIP LOCKED on PostgreSQL), so each due job runs on exactly one
 * node; a node that dies mid-job stops renewing its lease and the job becomes claimable again.
 *
 * A runner only claims kinds it has a handler for. `schedule` turns a kind into recurring work:
 * one job per time slot, deduplicated across nodes by the key `sched:<kind>:<slotStart>`.
 */
export class JobRunner {
  readonly store: JobStore;
  private readonly handlers = new Map<string, Registered>();
  private readonly schedules = new Map<string, { everyMs: number; payload: Record<string, unknown>; lastSlot: number }>();
  private readonly active = new Map<string, Running>();
  private readonly listeners = new Set<(o: JobOutcome) => void>();
  private readonly instance = randomBytes(4).toString('hex');
  private claimSeq = 0;
  private running = false;
  private loopDone?: Promise<void>;
  private wakeUp?: () => void;
  private woken = false;

  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly opts: RunnerOptions,
  ) {
    this.store = new JobStore(storage.db, storage.dialect);
  }

  register<P>(kind: string, handler: JobHandler<P>, opts: KindOptions = {}): void {
    if (this.handlers.has(kind)) throw new Error(`job kind already registered: ${kind}`);
    this.handlers.set(kind, { handler: handler as JobHandler<never>, opts });
  }

  kinds(): string[] {
    return [...this.handlers.keys()];
  }

  /**
   * Add a job. Pass `exec` (a Kysely transaction) to enqueue atomically with the caller's own
   * change; it then becomes visible (and runs) only if that transaction commits.
   */
  async enqueue<P>(kind: string, payload: P, o: EnqueueOptions = {}, exec?: Executor): Promise<EnqueueResult> {
    const maxAttempts = o.maxAttempts ?? this.handlers.get(kind)?.opts.maxAttempts ?? this.opts.maxAttempts;
    const res = await this.store.insert(exec ?? this.storage.db, { kind, payload, maxAttempts, now: this.clock.now(), nodeId: this.opts.nodeId, ...o });
    if (!exec && res.created) this.wake();
    return res;
  }

  /** Recurring work: one `kind` job per `everyMs` slot across all nodes, with `{slot}` in its payload. */
  schedule(kind: string, everyMs: number, payload: Record<string, unknown> = {}): void {
    this.schedules.set(kind, { everyMs, payload, lastSlot: -1 });
  }

  /** Admin retry: a dead job is queued again with a fresh set of attempts. Null when it is not dead. */
  async retry(id: string): Promise<Job | null> {
    const now = this.clock.now();
    const job = await this.store.retry(id, now);
    if (job) {
      await this.store.event({ job, event: 'retried', nodeId: this.opts.nodeId, now });
      this.wake();
    }
    return job;
  }

  onOutcome(fn: (o: JobOutcome) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Enqueue the current slot of every schedule (idempotent across nodes). */
  async enqueueScheduled(): Promise<void> {
    const now = this.clock.now();
    for (const [kind, s] of this.schedules) {
      const slot = Math.floor(now / s.everyMs) * s.everyMs;
      if (slot <= s.lastSlot) continue;
      await this.store.insert(this.storage.db, {
        kind,
        payload: { ...s.payload, slot },
        maxAttempts: this.handlers.get(kind)?.opts.maxAttempts ?? this.opts.maxAttempts,
        now,
        nodeId: this.opts.nodeId,
        runAt: slot,
        dedupeKey: `sched:${kind}:${slot}`,
      });
      s.lastSlot = slot;
    }
  }

  /** One scheduling + claiming pass; starts the claimed jobs without waiting for them. */
  async tick(): Promise<number> {
    await this.enqueueScheduled();
    const free = this.opts.concurrency - this.active.size;
    if (free <= 0) return 0;
    const owner = `${this.opts.nodeId}/${this.instance}#${++this.claimSeq}`;
    const jobs = await this.store.claim(this.kinds(), owner, free, this.clock.now(), this.opts.leaseMs);
    for (const job of jobs) this.spawn(job, owner);
    return jobs.length;
  }

  /** Run every due job to completion (CLI, tests). Returns how many runs were started. */
  async runDue(): Promise<number> {
    let n = 0;
    for (;;) {
      const claimed = await this.tick();
      n += claimed;
      if (!claimed && !this.active.size) return n;
      await Promise.allSettled([...this.active.values()].map((r) => r.promise));
    }
  }

  get activeCount(): number {
    return this.active.size;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /**
   * Stop claiming, let running jobs finish for up to `graceMs`, then abort them and hand
   * their jobs back (queued, attempt not counted) so another node picks them up at once.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.running = false;
    this.wake();
    await this.loopDone;
    const all = () => Promise.allSettled([...this.active.values()].map((r) => r.promise));
    if (!this.active.size) return;
    const finished = await Promise.race([all().then(() => true), sleep(graceMs).then(() => false)]);
    if (finished) return;
    for (const r of this.active.values()) {
      r.reason = 'stop';
      r.ac.abort(new Error('job runner stopping'));
    }
    await Promise.race([all(), sleep(1_000)]);
    for (const r of this.active.values()) {
      const now = this.clock.now();
      if (await this.store.release(r.job, r.owner, now).catch(() => false)) {
        await this.store.event({ job: r.job, event: 'released', nodeId: this.opts.nodeId, now }).catch(() => undefined);
      }
    }
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      this.woken = false;
      try {
        await this.tick();
      } catch (err) {
        this.log.warn({ err }, 'job runner tick failed');
      }
      if (!this.running) break;
      if (this.woken) continue;
      await new Promise<void>((resolve) => {
        // Deliberately ref'd: a started runner keeps a worker-only process alive until stop().
        const t = setTimeout(done, this.opts.pollMs);
        function done() {
          clearTimeout(t);
          resolve();
        }
        this.wakeUp = done;
      });
      this.wakeUp = undefined;
    }
  }

  private spawn(job: Job, owner: string): void {
    const r: Running = { job, owner, ac: new AbortController(), promise: Promise.resolve() };
    this.active.set(job.id, r);
    r.promise = this.execute(r)
      .catch((err) => this.log.error({ err, job_id: job.id, kind: job.kind }, 'job bookkeeping failed'))
      .finally(() => {
        this.active.delete(job.id);
        if (this.running) this.wake();
      });
  }

  private emit(o: JobOutcome): void {
    for (const fn of this.listeners) {
      try {
        fn(o);
      } catch {
        /* listeners are metrics; never let them break a job */
      }
    }
  }

  private async execute(r: Running): Promise<void> {
    const { job, owner } = r;
    const reg = this.handlers.get(job.kind)!;
    const node = this.opts.nodeId;
    if (job.attempts > job.max_attempts) {
      // Its lease expired on every attempt: the job keeps killing (or outliving) its process.
      const error = 'Lease expired on every attempt (process killed mid-job?)';
      if (await this.store.fail(job, owner, this.clock.now(), error, null)) {
        await this.store.event({ job, event: 'dead', nodeId: node, now: this.clock.now(), error });
        this.emit({ job, outcome: 'dead', durationMs: 0, error });
      }
      return;
    }
    const quiet = reg.opts.quiet ?? this.schedules.has(job.kind);
    if (!quiet) await this.store.event({ job, event: 'started', nodeId: node, now: this.clock.now() });
    const renewEvery = Math.max(50, Math.floor(this.opts.leaseMs / 3));
    const renew = setInterval(() => {
      this.store.renew(job, owner, this.clock.now(), this.opts.leaseMs).then(
        (ok) => {
          if (!ok && !r.ac.signal.aborted) {
            r.reason = 'lease';
            r.ac.abort(new Error('job lease lost'));
          }
        },
        () => undefined,
      );
    }, renewEvery);
    renew.unref();
    const timeout = reg.opts.timeoutMs
      ? setTimeout(() => {
          r.reason = 'timeout';
          r.ac.abort(new Error(`job timed out after ${reg.opts.timeoutMs} ms`));
        }, reg.opts.timeoutMs)
      : undefined;
    timeout?.unref();
    const t0 = performance.now();
    let failure: unknown;
    try {
      await reg.handler(job.payload as never, { job, attempt: job.attempts, signal: r.ac.signal } as never);
    } catch (e) {
      failure = e;
    } finally {
      clearInterval(renew);
      if (timeout) clearTimeout(timeout);
    }
    const durationMs = performance.now() - t0;
    const now = this.clock.now();
    if (r.reason === 'stop') return; // handed back by stop()
    if (r.reason === 'lease') {
      this.log.warn({ job_id: job.id, kind: job.kind }, 'job lease lost mid-run; outcome discarded');
      return;
    }
    if (failure === undefined) {
      if (await this.store.succeed(job, owner, now)) {
        if (!quiet) await this.store.event({ job, event: 'succeeded', nodeId: node, now, durationMs });
        this.emit({ job, outcome: 'succeeded', durationMs });
      }
      return;
    }
    const error = r.reason === 'timeout' ? `job timed out after ${reg.opts.timeoutMs} ms` : errorText(failure);
    const dead = job.attempts >= job.max_attempts;
    const delay = backoffMs(job.attempts, reg.opts.backoffBaseMs ?? this.opts.backoffBaseMs, reg.opts.backoffMaxMs ?? this.opts.backoffMaxMs, this.opts.random);
    if (await this.store.fail(job, owner, now, error, dead ? null : now + delay)) {
      await this.store.event({ job, event: dead ? 'dead' : 'failed', nodeId: node, now, error, durationMs });
      this.emit({ job, outcome: dead ? 'dead' : 'failed', durationMs, error });
      this.log.warn({ job_id: job.id, kind: job.kind, attempt: job.attempts, dead, error }, 'job attempt failed');
    }
  }
}
