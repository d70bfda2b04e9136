import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backoffMs } from '../../src/jobs/backoff.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { DIALECTS } from '../helpers/db.ts';

interface JobJ {
  id: string;
  kind: string;
  status: string;
  attempts: number;
  last_error: string | null;
  payload: unknown;
}

describe.each(DIALECTS)('admin jobs API on %s', (dialect) => {
  let t: TestApp;
  const clock = new ManualClock(Date.UTC(2026, 7, 1, 9));
  let deadId: string;
  let doneId: string;
  let flaky = true;

  beforeAll(async () => {
    t = await makeTestApp(dialect, { clock });
    t.c.jobs.register('test.flaky', async () => {
      if (flaky) throw new Error('upstream said no');
    }, { maxAttempts: 1 });
    t.c.jobs.register('test.fine', async () => {});
    deadId = (await t.c.jobs.enqueue('test.flaky', { customer: 'x' }, { customerId: 'cus_1' })).id;
    doneId = (await t.c.jobs.enqueue('test.fine', { a: 1 })).id;
    await t.c.jobs.runDue();
  });
  afterAll(async () => t?.close());

  it('lists jobs by status and kind', async () => {
    const dead = (await (await t.admin('GET', '/admin/api/jobs?status=dead')).json()) as { jobs: JobJ[]; total: number };
    expect(dead.total).toBe(1);
    expect(dead.jobs[0]).toMatchObject({ id: deadId, kind: 'test.flaky', status: 'dead', attempts: 1, last_error: 'upstream said no', payload: { customer: 'x' } });
    const fine = (await (await t.admin('GET', '/admin/api/jobs?kind=test.fine')).json()) as { jobs: JobJ[] };
    expect(fine.jobs.map((j) => [j.id, j.status])).toEqual([[doneId, 'done']]);
    const all = (await (await t.admin('GET', '/admin/api/jobs?limit=500')).json()) as { jobs: JobJ[]; total: number };
    expect(all.total).toBeGreaterThanOrEqual(2); // + the scheduled heartbeat / retention jobs
    expect((await t.admin('GET', '/admin/api/jobs?status=zombie')).status).toBe(400);
    expect((await t.admin('GET', '/admin/api/jobs?what=1')).status).toBe(400);
    expect((await t.req('GET', '/admin/api/jobs')).status).toBe(401);
  });

  it('shows one job with its events', async () => {
    const res = await t.admin('GET', `/admin/api/jobs/${deadId}`);
    const j = (await res.json()) as { job: JobJ; events: { event: string; error: string | null }[] };
    expect(j.job.status).toBe('dead');
    expect(j.events.map((e) => e.event)).toEqual(['started', 'dead']);
    expect(j.events[1]!.error).toBe('upstream said no');
    expect((await t.admin('GET', '/admin/api/jobs/job_missing')).status).toBe(404);
  });

  it('retries a dead job (audited); refuses others', async () => {
    expect((await t.admin('POST', `/admin/api/jobs/${doneId}/retry`)).status).toBe(409);
    expect((await t.admin('POST', '/admin/api/jobs/job_missing/retry')).status).toBe(404);
    expect((await t.req('POST', `/admin/api/jobs/${deadId}/retry`)).status).toBe(401);
    const res = await t.admin('POST', `/admin/api/jobs/${deadId}/retry`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { job: JobJ }).job).toMatchObject({ status: 'queued', attempts: 0 });
    flaky = false;
    await t.c.jobs.runDue();
    const after = (await (await t.admin('GET', `/admin/api/jobs/${deadId}`)).json()) as { job: JobJ; events: { event: string }[] };
    expect(after.job.status).toBe('done');
    expect(after.events.map((e) => e.event)).toEqual(['started', 'dead', 'retried', 'started', 'succeeded']);
    const audit = (await (await t.admin('GET', '/admin/api/audit?action=JOB_RETRY')).json()) as { events: { target: string; customer_id: string }[] };
    expect(audit.events[0]).toMatchObject({ target: `job:${deadId}`, customer_id: 'cus_1' });
  });
});

describe('backoff', () => {
  it('grows exponentially with equal jitter, capped', () => {
    expect(backoffMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffMs(1, 1000, 60_000, () => 0.999)).toBe(999);
    expect(backoffMs(2, 1000, 60_000, () => 0)).toBe(1000);
    expect(backoffMs(3, 1000, 60_000, () => 0)).toBe(2000);
    expect(backoffMs(20, 1000, 60_000, () => 0.5)).toBe(45_000);
  });
});
