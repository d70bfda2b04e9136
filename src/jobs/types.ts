import type { Kysely, Selectable } from 'kysely';
import type { Database, JobsTable } from '../storage/types.ts';

/** `queued` also covers "failed, waiting for a retry" (next_attempt_at in the future). */
export const JOB_STATUSES = ['queued', 'running', 'done', 'dead'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export type JobEventName = 'started' | 'succeeded' | 'failed' | 'dead' | 'retried' | 'released';

export type JobRow = Selectable<JobsTable>;

/** A job row with its payload parsed and its status narrowed. */
export type Job<P = unknown> = Omit<JobRow, 'payload' | 'status'> & { payload: P; status: JobStatus };

export function jobFromRow<P = unknown>(r: JobRow): Job<P> {
  return {
    id: r.id,
    kind: r.kind,
    payload: JSON.parse(r.payload) as P,
    status: r.status as JobStatus,
    attempts: Number(r.attempts),
    max_attempts: Number(r.max_attempts),
    next_attempt_at: Number(r.next_attempt_at),
    lease_owner: r.lease_owner,
    lease_expires_at: r.lease_expires_at == null ? null : Number(r.lease_expires_at),
    last_error: r.last_error,
    dedupe_key: r.dedupe_key,
    customer_id: r.customer_id,
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
    started_at: r.started_at == null ? null : Number(r.started_at),
    finished_at: r.finished_at == null ? null : Number(r.finished_at),
  };
}

export interface EnqueueOptions {
  /** Earliest run time (epoch ms); default now. */
  runAt?: number;
  /** At most one job row ever carries this key: a second enqueue with it is a no-op. */
  dedupeKey?: string;
  maxAttempts?: number;
  /** Owner customer, for timeline filters. */
  customerId?: string;
}

export interface EnqueueResult {
  id: string;
  /** False when a job with the same dedupe key already existed. */
  created: boolean;
}

export interface JobContext<P = unknown> {
  job: Job<P>;
  /** 1 on the first run. */
  attempt: number;
  /** Aborted when the lease is lost, the kind's timeout passes, or the runner is stopping. */
  signal: AbortSignal;
}

export type JobHandler<P = unknown> = (payload: P, ctx: JobContext<P>) => Promise<void>;

export interface KindOptions {
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Abort the handler after this long (counts as a failed attempt). */
  timeoutMs?: number;
  /**
   * Skip the started/succeeded job events (failures, dead, retries are always recorded), so
   * routine recurring work does not flood the timeline. Default: true for scheduled kinds.
   */
  quiet?: boolean;
}

/** A transaction or the database itself: enqueue can join the caller's transaction. */
export type Executor = Kysely<Database>;
