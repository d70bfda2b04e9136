import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/app/server.ts';
import { testConfig } from '../../src/config/index.ts';
import { readSse } from '../../src/lib/sse.ts';
import { openStorage } from '../../src/storage/db.ts';
import { ADMIN_PASSWORD } from '../helpers/app.ts';
import { DIALECTS, freshPgUrl } from '../helpers/db.ts';
import { until } from './util.ts';

describe.each(DIALECTS)('a running server on %s', (dialect) => {
  it('beats against its own /health, tails over a real socket, and flushes the monitor on shutdown', async () => {
    const file = join(tmpdir(), `kaixu-srv-${randomBytes(4).toString('hex')}.sqlite`);
    const url = dialect === 'sqlite' ? `sqlite:${file}` : await freshPgUrl();
    const config = testConfig({ DATABASE_URL: url, HOST: '127.0.0.1', PORT: '0', HEARTBEAT_INTERVAL: '1000', JOBS_POLL_MS: '20', MONITOR_FLUSH_MS: '60000', MONITOR_STREAM_POLL_MS: '50' });
    const srv = await startServer(config);
    try {
      // The heartbeat job runs by itself and probes this server's own URL.
      expect(srv.container.heartbeat.target).toBe(`${srv.url}/health`);
      const beat = await until(() => srv.container.heartbeat.history(1).then((h) => h.last), 8_000, 50);
      expect(beat).toMatchObject({ ok: true, http_status: 200, db_ok: true, error_type: null });

      const seed = await fetch(`${srv.url}/.netlify/functions/health`);
      expect(seed.headers.get('x-kaixu-overhead-ms')).toMatch(/^\d+\.\d{3}$/);

      const { token } = (await (await fetch(`${srv.url}/admin/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: ADMIN_PASSWORD }) })).json()) as { token: string };
      const ac = new AbortController();
      const stream = await fetch(`${srv.url}/admin/api/monitor/stream`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
      const frames = readSse(stream.body! as unknown as AsyncIterable<Uint8Array>);
      expect((await frames.next()).value).toMatchObject({ event: 'hello' });
      await until(() => srv.container.monitor.stats().streams_open === 1);
      ac.abort();
      await frames.return(undefined).catch(() => undefined);
      await until(() => srv.container.monitor.stats().streams_open === 0, 5_000);

      const marks: string[] = [];
      for (let i = 0; i < 5; i++) marks.push((await fetch(`${srv.url}/health`)).headers.get('x-kaixu-request-id')!);
      expect(srv.container.monitor.stats().queue_depth).toBeGreaterThanOrEqual(5);
    } finally {
      await srv.stop();
    }
    // Nothing was flushed by the timer (60 s): the rows exist because shutdown flushed the queue.
    const check = openStorage(dialect === 'sqlite' ? { kind: 'sqlite', path: file } : { kind: 'postgres', url });
    try {
      const r = await sql<{ n: number }>`select count(*) as n from monitor_events where operation = 'ops.health' and path = '/health'`.execute(check.db);
      expect(Number(r.rows[0]!.n)).toBeGreaterThanOrEqual(5);
      const running = await check.db.selectFrom('jobs').select('id').where('status', '=', 'running').execute();
      expect(running).toHaveLength(0); // the runner stopped cleanly
    } finally {
      await check.close();
      for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
    }
  }, 30_000);
});
