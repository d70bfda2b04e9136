import { sql, type ExpressionBuilder } from 'kysely';
import { newId } from '../lib/ids.ts';
import type { Db, Dialect } from '../storage/db.ts';
import type { Database } from '../storage/types.ts';
import { jobFromRow, type EnqueueOptions, type EnqueueResult, type Executor, type Job, type JobEventName, type JobStatus } from './types.ts';

const ERROR_MAX = 2_000;
const clipError = (e: string | null) => (e == null ? null : e.replaceAll('\u0000', '').slice(0, ERROR_MAX));

/** Due queued jobs, and running jobs whose lease has expired (their process died mid-job). */
const claimable = (now: number) => (eb: ExpressionBuilder<Database, 'jobs'>) =>
  eb.or([eb.and([eb('status', '=', 'queued'), eb('next_attempt_at', '<=', now)]), eb.and([eb('status', '=', 'running'), eb('lease_expires_at', '<', now)])]);

export interface JobEventInput {
  job: Pick<Job, 'id' | 'kind' | 'attempts' | 'customer_id'>;
  event: JobEventName;
  nodeId: string;
  now: number;
  error?: string | null;
  durationMs?: number | null;
}

/**
 * SQL for the jobs table. Every state change after a claim is fenced on (id, lease_owner,
 * attempts, status = running): a runner whose lease expired and was taken over cannot
 * overwrite the new owner's outcome.
 */
export class JobStore {
  constructor(
    private readonly db: Db,
    private readonly dialect: Dialect,
  ) {}

  async insert(
    exec: Executor,
    input: { kind: string; payload: unknown; maxAttempts: number; now: number; nodeId: string } & EnqueueOptions,
  ): Promise<EnqueueResult> {
    const id = newId('job');
    const payload = JSON.stringify(input.payload ?? {});
    const row = await exec
      .insertInto('jobs')
      .values({
        id,
        kind: input.kind,
        payload,
        status: 'queued',
        attempts: 0,
        max_attempts: input.maxAttempts,
        next_attempt_at: input.runAt ?? input.now,
        dedupe_key: input.dedupeKey ?? null,
        customer_id: input.customerId ?? null,
        created_at: input.now,
        updated_at: input.now,
      })
      .onConflict((oc) => oc.column('dedupe_key').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (row) return { id: row.id, created: true };
    const existing = await exec.selectFrom('jobs').select('id').where('dedupe_key', '=', input.dedupeKey!).executeTakeFirstOrThrow();
    return { id: existing.id, created: false };
  }

  /**
   * Claim up to `limit` claimable jobs of the given kinds for `owner`, in one statement.
   * PostgreSQL: the candidate rows are locked with FOR UPDATE SKIP LOCKED, so concurrent
   * claimers on other nodes skip them instead of waiting or double-claiming; the outer WHERE
   * re-checks the state. SQLite: the single UPDATE … RETURNING is atomic (one writer at a time).
   */
  async claim(kinds: string[], owner: string, limit: number, now: number, leaseMs: number): Promise<Job[]> {
    if (!kinds.length || limit <= 0) return [];
    let candidates = this.db.selectFrom('jobs').select('id').where('kind', 'in', kinds).where(claimable(now)).orderBy('next_attempt_at').limit(limit);
    if (this.dialect === 'postgres') candidates = candidates.forUpdate().skipLocked();
    const rows = await this.db
      .updateTable('jobs')
      .set({
        status: 'running',
        lease_owner: owner,
        lease_expires_at: now + leaseMs,
        attempts: sql`attempts + 1`,
        started_at: now,
        updated_at: now,
      })
      .where('id', 'in', candidates)
      .where(claimable(now))
      .returningAll()
      .execute();
    return rows.map((r) => jobFromRow(r)).sort((a, b) => a.next_attempt_at - b.next_attempt_at);
  }

  private fenced(job: Job, owner: string) {
    return this.db
      .updateTable('jobs')
      .where('id', '=', job.id)
      .where('lease_owner', '=', owner)
      .where('attempts', '=', job.attempts)
      .where('status', '=', 'running');
  }

  /** Extend a running job's lease. False when the lease was lost (expired and taken over). */
  async renew(job: Job, owner: string, now: number, leaseMs: number): Promise<boolean> {
    const r = await this.fenced(job, owner).set({ lease_expires_at: now + leaseMs, updated_at: now }).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async succeed(job: Job, owner: string, now: number): Promise<boolean> {
    const r = await this.fenced(job, owner)
      .set({ status: 'done', lease_owner: null, lease_expires_at: null, finished_at: now, updated_at: now })
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** A failed attempt: back to queued at `retryAt`, or dead when `retryAt` is null. */
  async fail(job: Job, owner: string, now: number, error: string, retryAt: number | null): Promise<boolean> {
    const r = await this.fenced(job, owner)
      .set(
        retryAt === null
          ? { status: 'dead', lease_owner: null, lease_expires_at: null, last_error: clipError(error), finished_at: now, updated_at: now }
          : { status: 'queued', lease_owner: null, lease_expires_at: null, last_error: clipError(error), next_attempt_at: retryAt, updated_at: now },
      )
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Give a claimed job back without counting the attempt (graceful stop before it finished). */
  async release(job: Job, owner: string, now: number): Promise<boolean> {
    const r = await this.fenced(job, owner)
      .set({ status: 'queued', lease_owner: null, lease_expires_at: null, attempts: Math.max(0, job.attempts - 1), next_attempt_at: now, updated_at: now })
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Admin retry: a dead job gets a fresh set of attempts. */
  async retry(id: string, now: number): Promise<Job | null> {
    const r = await this.db
      .updateTable('jobs')
      .set({ status: 'queued', attempts: 0, next_attempt_at: now, finished_at: null, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'dead')
      .returningAll()
      .executeTakeFirst();
    return r ? jobFromRow(r) : null;
  }

  async event(e: JobEventInput, exec: Executor = this.db): Promise<void> {
    await exec
      .insertInto('job_events')
      .values({
        created_at: e.now,
        job_id: e.job.id,
        kind: e.job.kind,
        event: e.event,
        attempt: e.job.attempts,
        node_id: e.nodeId,
        customer_id: e.job.customer_id,
        error: clipError(e.error ?? null),
        duration_ms: e.durationMs == null ? null : Math.round(e.durationMs),
      })
      .execute();
  }

  async get(id: string): Promise<Job | null> {
    const r = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? jobFromRow(r) : null;
  }

  async events(jobId: string) {
    return this.db.selectFrom('job_events').selectAll().where('job_id', '=', jobId).orderBy('id').execute();
  }

  async list(q: { status?: JobStatus; kind?: string; limit: number; offset: number }): Promise<{ jobs: Job[]; total: number }> {
    let base = this.db.selectFrom('jobs');
    if (q.status) base = base.where('status', '=', q.status);
    if (q.kind) base = base.where('kind', '=', q.kind);
    const [rows, count] = await Promise.all([
      base.selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).offset(q.offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst(),
    ]);
    return { jobs: rows.map((r) => jobFromRow(r)), total: Number(count?.n ?? 0) };
  }

  /** Forget done jobs and old job events (their dedupe keys belong to past slots). Dead jobs stay until retried. */
  async prune(before: number): Promise<{ jobs: number; events: number }> {
    const j = await this.db.deleteFrom('jobs').where('status', '=', 'done').where('finished_at', '<', before).executeTakeFirst();
    const e = await this.db.deleteFrom('job_events').where('created_at', '<', before).executeTakeFirst();
    return { jobs: Number(j.numDeletedRows), events: Number(e.numDeletedRows) };
  }
}
