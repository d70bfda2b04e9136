import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JobRunner } from '../../src/jobs/runner.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { DIALECTS, makeTestDb, type TestDb } from '../helpers/db.ts';
import { until } from './util.ts';

const WORKER = join(import.meta.dirname, 'fixtures', 'job-worker.ts');

interface Worker {
  proc: ChildProcess;
  out: string[];
}

function startWorker(url: string, node: string, env: Record<string, string> = {}): Promise<Worker> {
  const proc = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    env: { ...process.env, DATABASE_URL: url, NODE_ID: node, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out: string[] = [];
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(...d.split('\n').filter(Boolean)));
  return until(() => out.includes('READY'), 20_000).then(() => ({ proc, out }));
}

const exited = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

describe.each(DIALECTS)('jobs across real processes on %s', (dialect) => {
  let db: TestDb;
  let file: string | undefined;
  const workers: Worker[] = [];

  beforeAll(async () => {
    if (dialect === 'sqlite') file = join(tmpdir(), `kaixu-jobproc-${randomBytes(4).toString('hex')}.sqlite`);
    db = await makeTestDb(dialect, { file });
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
      await exited(w.proc);
    }
  });
  afterAll(async () => {
    await db?.close();
    if (file) for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  });

  const producer = () =>
    new JobRunner(db.storage, systemClock, createLogger({ level: 'silent' }), {
      nodeId: 'producer',
      pollMs: 20,
      leaseMs: 400,
      concurrency: 2,
      maxAttempts: 5,
      backoffBaseMs: 10,
      backoffMaxMs: 100,
    });

  it('with two worker processes, each due job runs exactly once', async () => {
    workers.push(await startWorker(db.url, 'proc-a'), await startWorker(db.url, 'proc-b'));
    const p = producer();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await p.enqueue('test.work', { n: i })).id);
    await until(async () => {
      const rows = await db.storage.db.selectFrom('jobs').select('status').where('kind', '=', 'test.work').execute();
      return rows.length === 30 && rows.every((r) => r.status === 'done');
    }, 20_000, 50);
    const runs = await db.storage.db.selectFrom('audit_events').select(['actor', 'target']).where('action', '=', 'TEST_RUN').execute();
    expect(runs).toHaveLength(30);
    expect(new Set(runs.map((r) => r.target))).toEqual(new Set(ids));
    expect(workers.every((w) => w.proc.exitCode === null)).toBe(true); // both stayed up, polling
    for (const w of workers) w.proc.kill('SIGTERM');
    await Promise.all(workers.map((w) => exited(w.proc)));
    expect(workers.map((w) => w.proc.exitCode)).toEqual([0, 0]); // graceful stop
  }, 60_000);

  it('a worker killed mid-job (SIGKILL) loses its lease and the job runs again in another process', async () => {
    await db.storage.db.deleteFrom('jobs').execute();
    const p = producer();
    const { id } = await p.enqueue('test.work', { n: 1 });
    const w = await startWorker(db.url, 'doomed', { MODE: 'hang', LEASE_MS: '400' });
    workers.push(w);
    await until(() => w.out.includes(`STARTED ${id}`), 20_000);
    expect(w.proc.exitCode).toBeNull();
    w.proc.kill('SIGKILL');
    await exited(w.proc);
    expect(w.proc.signalCode).toBe('SIGKILL');
    expect((await p.store.get(id))!).toMatchObject({ status: 'running', attempts: 1 });
    expect((await p.store.get(id))!.lease_owner).toMatch(/^doomed\//);

    let ranHere = 0;
    p.register('test.work', async () => void ranHere++);
    await until(async () => (await p.runDue()) > 0, 5_000, 50);
    expect(ranHere).toBe(1);
    expect((await p.store.get(id))!).toMatchObject({ status: 'done', attempts: 2 });
    const events = await p.store.events(id);
    expect(events.map((e) => [e.node_id, e.event])).toEqual([
      ['doomed', 'started'],
      ['producer', 'started'],
      ['producer', 'succeeded'],
    ]);
  }, 60_000);
});
