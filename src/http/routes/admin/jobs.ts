import { createRoute, z } from '@hono/zod-openapi';
import { JOB_STATUSES, type Job } from '../../../jobs/types.ts';
import { iso } from '../../../lib/clock.ts';
import { AppError } from '../../../lib/errors.ts';
import type { RouteDeps } from '../../context.ts';
import { requireAdmin } from '../../middleware/auth.ts';
import { actorOf, errorResponses, jsonResponse, PageQuery } from '../../route-kit.ts';

const security = [{ adminBearer: [] }];
const JobParam = z.object({ job_id: z.string().min(1).max(100) });

const jobView = (j: Job) => ({
  id: j.id,
  kind: j.kind,
  status: j.status,
  attempts: j.attempts,
  max_attempts: j.max_attempts,
  next_attempt_at: iso(j.next_attempt_at),
  lease_owner: j.lease_owner,
  lease_expires_at: iso(j.lease_expires_at),
  last_error: j.last_error,
  dedupe_key: j.dedupe_key,
  customer_id: j.customer_id,
  payload: j.payload,
  created_at: iso(j.created_at),
  updated_at: iso(j.updated_at),
  started_at: iso(j.started_at),
  finished_at: iso(j.finished_at),
});

const JobView = z
  .object({
    id: z.string(),
    kind: z.string(),
    status: z.enum(JOB_STATUSES),
    attempts: z.number(),
    max_attempts: z.number(),
    next_attempt_at: z.string().nullable(),
    lease_owner: z.string().nullable(),
    lease_expires_at: z.string().nullable(),
    last_error: z.string().nullable(),
    dedupe_key: z.string().nullable(),
    customer_id: z.string().nullable(),
    payload: z.unknown(),
    created_at: z.string().nullable(),
    updated_at: z.string().nullable(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
  })
  .openapi('Job');

const JobEvent = z
  .object({ time: z.string(), event: z.string(), attempt: z.number(), node_id: z.string().nullable(), error: z.string().nullable(), duration_ms: z.number().nullable() })
  .openapi('JobEvent');

/** Admin view of the durable job queue: list by status/kind, inspect one, retry a dead one. */
export function registerAdminJobs({ app, c }: RouteDeps) {
  const mw = [requireAdmin(c)];

  app.openapi(
    createRoute({
      operationId: 'admin.jobs.list',
      method: 'get',
      path: '/admin/api/jobs',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Background jobs, newest first (queued includes failed attempts waiting for their retry)',
      request: { query: PageQuery.extend({ status: z.enum(JOB_STATUSES).optional(), kind: z.string().min(1).max(100).optional() }).strict() },
      responses: { 200: jsonResponse(z.object({ jobs: z.array(JobView), total: z.number(), limit: z.number(), offset: z.number() })), ...errorResponses(400, 401) },
    }),
    async (ctx) => {
      const q = ctx.req.valid('query');
      const res = await c.jobs.store.list(q);
      return ctx.json({ jobs: res.jobs.map(jobView), total: res.total, limit: q.limit, offset: q.offset }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.jobs.get',
      method: 'get',
      path: '/admin/api/jobs/{job_id}',
      tags: ['admin'],
      security,
      middleware: mw,
      request: { params: JobParam },
      responses: { 200: jsonResponse(z.object({ job: JobView, events: z.array(JobEvent) })), ...errorResponses(401, 404) },
    }),
    async (ctx) => {
      const { job_id } = ctx.req.valid('param');
      const job = await c.jobs.store.get(job_id);
      if (!job) throw new AppError('NOT_FOUND', 'Job not found');
      const events = (await c.jobs.store.events(job_id)).map((e) => ({
        time: iso(e.created_at)!,
        event: e.event,
        attempt: Number(e.attempt),
        node_id: e.node_id,
        error: e.error,
        duration_ms: e.duration_ms == null ? null : Number(e.duration_ms),
      }));
      return ctx.json({ job: jobView(job), events }, 200);
    },
  );

  app.openapi(
    createRoute({
      operationId: 'admin.jobs.retry',
      method: 'post',
      path: '/admin/api/jobs/{job_id}/retry',
      tags: ['admin'],
      security,
      middleware: mw,
      summary: 'Queue a dead job again with a fresh set of attempts',
      request: { params: JobParam },
      responses: { 200: jsonResponse(z.object({ job: JobView })), ...errorResponses(401, 404, 409) },
    }),
    async (ctx) => {
      const { job_id } = ctx.req.valid('param');
      const job = await c.jobs.retry(job_id);
      if (!job) {
        const existing = await c.jobs.store.get(job_id);
        if (!existing) throw new AppError('NOT_FOUND', 'Job not found');
        throw new AppError('CONFLICT', `Only dead jobs can be retried (this one is ${existing.status})`, { status: existing.status });
      }
      const { actor, ip } = actorOf(ctx);
      await c.audit.record({ actor, ip, action: 'JOB_RETRY', target: `job:${job.id}`, customerId: job.customer_id, summary: `Retried ${job.kind} job` });
      return ctx.json({ job: jobView(job) }, 200);
    },
  );
}
