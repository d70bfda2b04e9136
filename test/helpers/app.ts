import { createContainer, type Container } from '../../src/app/container.ts';
import { testConfig } from '../../src/config/index.ts';
import { buildApp } from '../../src/http/app.ts';
import type { App } from '../../src/http/context.ts';
import { ManualClock, type Clock } from '../../src/lib/clock.ts';
import { createLogger } from '../../src/lib/logger.ts';
import type { Dialect } from '../../src/storage/db.ts';
import { makeTestDb, type TestDb } from './db.ts';

export const ADMIN_PASSWORD = 'test-admin-password-123';

export interface TestApp {
  app: App;
  c: Container;
  db: TestDb;
  clock: Clock;
  /** app.request() with JSON helpers. */
  req(method: string, path: string, opts?: { body?: unknown; headers?: Record<string, string>; raw?: BodyInit }): Promise<Response>;
  adminToken(): Promise<string>;
  admin(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  createCustomer(body?: Record<string, unknown>): Promise<{ customer: { id: string; email: string }; key: string; keyId: string }>;
  createKey(customerId: string, body?: Record<string, unknown>): Promise<{ key: string; keyId: string }>;
  close(): Promise<void>;
}

let seq = 0;

/** An in-process gateway on a fresh database of the given dialect. */
export async function makeTestApp(dialect: Dialect, opts: { env?: Record<string, string>; clock?: Clock; logLines?: string[] } = {}): Promise<TestApp> {
  const db = await makeTestDb(dialect);
  const config = testConfig({ TRUST_PROXY: 'true', ...opts.env });
  const clock = opts.clock ?? new ManualClock(Date.now());
  const logger = opts.logLines
    ? createLogger({
        level: 'debug',
        secrets: [config.secrets.adminPassword, config.secrets.jwtSecret, config.secrets.keyPepper, config.secrets.encryptionKey],
        destination: { write: (s: string) => void opts.logLines!.push(s) },
      })
    : createLogger({ level: 'silent' });
  const c = await createContainer(config, { storage: db.storage, skipMigrations: true, clock, logger });
  await c.start();
  const app = buildApp(c);
  let token: string | undefined;

  const req: TestApp['req'] = async (method, path, o = {}) =>
    app.request(path, {
      method,
      headers: { ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
      body: o.raw ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined),
    });

  const t: TestApp = {
    app,
    c,
    db,
    clock,
    req,
    async adminToken() {
      if (token) return token;
      const res = await req('POST', '/admin/api/login', { body: { password: ADMIN_PASSWORD }, headers: { 'x-forwarded-for': '10.255.255.1' } });
      if (res.status !== 200) throw new Error(`admin login failed: ${res.status} ${await res.text()}`);
      token = ((await res.json()) as { token: string }).token;
      return token;
    },
    async admin(method, path, body, headers = {}) {
      return req(method, path, { body, headers: { authorization: `Bearer ${await t.adminToken()}`, ...headers } });
    },
    async createCustomer(body = {}) {
      const res = await t.admin('POST', '/admin/api/customers', { email: `cust${++seq}-${Date.now()}@example.com`, ...body });
      if (res.status !== 201) throw new Error(`create customer failed: ${res.status} ${await res.text()}`);
      const j = (await res.json()) as { customer: { id: string; email: string }; master_key: { key: string; api_key: { id: string } } };
      return { customer: j.customer, key: j.master_key.key, keyId: j.master_key.api_key.id };
    },
    async createKey(customerId, body = {}) {
      const res = await t.admin('POST', `/admin/api/customers/${customerId}/keys`, body);
      if (res.status !== 201) throw new Error(`create key failed: ${res.status} ${await res.text()}`);
      const j = (await res.json()) as { key: string; api_key: { id: string } };
      return { key: j.key, keyId: j.api_key.id };
    },
    async close() {
      await c.close();
      await db.close();
    },
  };
  return t;
}
