import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainer } from '../../src/app/container.ts';
import { testConfig } from '../../src/config/index.ts';
import { buildApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { openStorage } from '../../src/storage/db.ts';
import { DIALECTS } from '../helpers/db.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PATHS = ['/health', '/.netlify/functions/health', '/api/health'];

describe.each(DIALECTS)('health on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeTestApp(dialect);
  });
  afterAll(async () => t?.close());

  it('answers 200 {ok, ts, version, db:{ok, latency_ms}} on every mount point, without auth', async () => {
    for (const path of PATHS) {
      const res = await t.req('GET', path);
      expect(res.status, path).toBe(200);
      const j = (await res.json()) as Json;
      expect(j).toMatchObject({ ok: true, version: t.c.config.version, db: { ok: true, dialect } });
      expect(Date.parse(j.ts)).toBe(t.clock.now());
      expect(j.db.latency_ms).toBeGreaterThanOrEqual(0);
      expect(JSON.stringify(j)).not.toMatch(/password|secret|pepper/i);
    }
  });

  it('answers 503 with db.ok=false once the database is closed', async () => {
    const own = await makeTestApp(dialect);
    await own.c.close();
    await own.db.close();
    for (const path of PATHS) {
      const res = await own.req('GET', path);
      expect(res.status, path).toBe(503);
      const j = (await res.json()) as Json;
      expect(j).toMatchObject({ ok: false, db: { ok: false, latency_ms: null } });
      expect(res.headers.get('x-kaixu-request-id')).toBeTruthy();
    }
  });
});

describe('health with an unreachable PostgreSQL', () => {
  it('is 503 and says unreachable, without connection details', async () => {
    const config = testConfig({ DATABASE_URL: 'postgres://postgres:hunter2-secret@127.0.0.1:1/none' });
    const storage = openStorage(config.database);
    const c = await createContainer(config, { storage, skipMigrations: true, logger: createLogger({ level: 'silent' }) });
    try {
      const res = await buildApp(c).request('/health');
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ ok: false, db: { ok: false, dialect: 'postgres', error: 'unreachable' } });
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('ECONNREFUSED');
    } finally {
      await c.close();
      await storage.close();
    }
  });
});
