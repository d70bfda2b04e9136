import type pg from 'pg';
import type { DeviceOutcome } from '../device-store.ts';
import { windowArgs } from '../rate-limit/postgres.ts';
import { GroupCommit } from './group-commit.ts';
import type { ReserveInput, ReserveOutcome, ReserveResult } from './types.ts';

interface AdmitRow {
  o_i?: number;
  o_outcome: ReserveOutcome;
  o_dev_outcome: DeviceOutcome | null;
  o_dev_active: number | null;
  o_rl_allowed: boolean | null;
  o_rl_prev: (string | number)[] | null;
  o_rl_cur: (string | number)[] | null;
  o_mode: string | null;
  o_base_cap_cents: number | null;
  o_key_cap_cents: number | null;
  o_extra_cents: number | null;
  o_c_spent: number | null;
  o_c_reserved: number | null;
  o_k_spent: number | null;
  o_k_reserved: number | null;
}

const ADMIT_SQL = `select * from kaixu_admit(${Array.from({ length: 21 }, (_, i) => `$${i + 1}`).join(', ')})`;
const ADMIT_BATCH_SQL = `select * from kaixu_admit_batch(${Array.from({ length: 22 }, (_, i) => `$${i + 1}`).join(', ')})`;

/** Admissions of one group in one statement at most (larger bursts take several). */
const MAX_BATCH = 100;

/**
 * Calls that may share one kaixu_admit_batch statement: same customer, key, month, device and
 * rate-limit buckets, so the batch locks exactly the rows one admission locks, in the same order
 * (migrations/007_pg_admit_batch.ts).
 */
export function admitGroup(i: ReserveInput): string {
  const buckets = i.rate?.windows.map((w) => w.bucket).join('\u0001') ?? '';
  return `${i.customerId}\u0000${i.keyId}\u0000${i.month}\u0000${i.installId ?? ''}\u0000${buckets}`;
}

/**
 * PostgreSQL admissions. A call alone goes out at once as one kaixu_admit. Calls of the same
 * group (admitGroup) that arrive while one of theirs is on the wire wait for it and then go
 * together as one kaixu_admit_batch, in arrival order: the database then sees one statement per
 * round trip for a hot key instead of a queue of transactions each waiting for the previous one's
 * row locks. Each call's result is what it would have been admitted alone, one after the other,
 * and the batch writes each rate-limit window and month row once, not once per call (migration 009).
 */
export class PgAdmitter {
  private readonly groups = new Map<string, GroupCommit<ReserveInput, ReserveResult>>();
  /** Statements sent and the admissions in them (diagnostics, tests). */
  readonly stats = { statements: 0, admissions: 0, maxBatch: 0 };

  constructor(private readonly pool: pg.Pool) {}

  admit(i: ReserveInput): Promise<ReserveResult> {
    const key = admitGroup(i);
    let group = this.groups.get(key);
    if (!group) {
      const g: GroupCommit<ReserveInput, ReserveResult> = new GroupCommit<ReserveInput, ReserveResult>({
        maxInFlight: 1,
        maxBatch: MAX_BATCH,
        write: (xs) => this.write(xs),
        // An error reported by the server: the statement (its own transaction) was rolled back,
        // so each call can be retried alone.
        retryable: (e) => typeof (e as { severity?: unknown })?.severity === 'string',
        // A group lives only while its calls are in flight: one per hot key and device at a time.
        onIdle: () => {
          if (this.groups.get(key) === g) this.groups.delete(key);
        },
      });
      group = g;
      this.groups.set(key, group);
    }
    return group.submit(i);
  }

  /** Groups with calls in flight (diagnostics, tests). */
  get activeGroups(): number {
    return this.groups.size;
  }

  private async write(xs: ReserveInput[]): Promise<ReserveResult[]> {
    this.stats.statements++;
    this.stats.admissions += xs.length;
    this.stats.maxBatch = Math.max(this.stats.maxBatch, xs.length);
    if (xs.length === 1) {
      const i = xs[0]!;
      const res = await this.pool.query<AdmitRow>({ name: 'kaixu_admit', text: ADMIT_SQL, values: singleValues(i) });
      return [toResult(res.rows[0]!, i)];
    }
    const res = await this.pool.query<AdmitRow>({ name: 'kaixu_admit_batch', text: ADMIT_BATCH_SQL, values: batchValues(xs) });
    const out = new Array<ReserveResult>(xs.length);
    for (const r of res.rows) out[r.o_i! - 1] = toResult(r, xs[r.o_i! - 1]!);
    for (let k = 0; k < xs.length; k++) if (!out[k]) throw new Error(`kaixu_admit_batch returned no row for call ${k + 1} of ${xs.length}`);
    return out;
  }
}

/** kaixu_admit's scalar arguments, in its parameter order (the rate-limit window arrays follow). */
function scalarArgs(i: ReserveInput): unknown[] {
  const d = i.device ?? null;
  return [
    i.id,
    i.customerId,
    i.keyId,
    i.month,
    i.amount,
    i.installId,
    i.requestId,
    i.now,
    i.expiresAt,
    i.expect.keyUpdatedAt,
    i.expect.customerUpdatedAt,
    d != null,
    d?.ua ?? null,
    d?.max ?? 0,
  ];
}

const windowsOf = (i: ReserveInput) => windowArgs(i.rate?.windows ?? []);

function singleValues(i: ReserveInput): unknown[] {
  return [...scalarArgs(i), ...windowsOf(i)];
}

/**
 * kaixu_admit_batch's arguments: each scalar argument as an array over the calls, the rate-limit
 * width, then each window array flattened over the calls (the calls of a group share their buckets,
 * so every call has the same width).
 */
function batchValues(xs: ReserveInput[]): unknown[] {
  const scalars = xs.map(scalarArgs);
  const windows = xs.map(windowsOf);
  return [
    ...scalars[0]!.map((_, k) => scalars.map((args) => args[k])),
    xs[0]!.rate?.windows.length ?? 0,
    ...windows[0]!.map((_, k) => windows.flatMap((arrays) => arrays[k]!)),
  ];
}

function toResult(r: AdmitRow, i: ReserveInput): ReserveResult {
  const w = i.rate?.windows ?? [];
  const out: ReserveResult = { outcome: r.o_outcome, snap: null };
  if (r.o_dev_outcome != null) out.device = { outcome: r.o_dev_outcome, active: Number(r.o_dev_active ?? 0) };
  if (r.o_rl_allowed != null) {
    out.rate = { allowed: r.o_rl_allowed, counts: w.map((_, k) => ({ prev: Number(r.o_rl_prev![k]), cur: Number(r.o_rl_cur![k]) })) };
  }
  if (r.o_c_spent != null) {
    out.snap = {
      mode: r.o_mode === 'soft' ? 'soft' : 'hard',
      baseCapCents: Number(r.o_base_cap_cents),
      keyCapCents: r.o_key_cap_cents == null ? null : Number(r.o_key_cap_cents),
      extraCents: Number(r.o_extra_cents),
      cSpent: Number(r.o_c_spent),
      cReserved: Number(r.o_c_reserved),
      kSpent: Number(r.o_k_spent),
      kReserved: Number(r.o_k_reserved),
    };
  }
  return out;
}
