import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, makeTestApp } from '../helpers/app.ts';
import { SECRETS, startGateway, tempDir } from './proc.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Call = (method: string, path: string, opts?: { body?: unknown; bearer?: string; raw?: string; headers?: Record<string, string> }) => Promise<{ status: number; json: Json }>;

const WRONG_PASSWORD = 'wrong-but-plausible-Pa55word';

/**
 * A full admin + key session. Returns every credential it saw, so the caller can look for them
 * in the logs.
 */
async function session(call: Call, adminPassword: string): Promise<string[]> {
  const seen: string[] = [];
  expect((await call('POST', '/admin/api/login', { body: { password: WRONG_PASSWORD } })).status).toBe(401);
  const login = await call('POST', '/admin/api/login', { body: { password: adminPassword } });
  expect(login.status).toBe(200);
  const token: string = login.json.token;
  seen.push(token);
  const cust = await call('POST', '/admin/api/customers', { bearer: token, body: { email: `logs-${Date.now()}@example.com` } });
  expect(cust.status).toBe(201);
  const master: string = cust.json.master_key.key;
  seen.push(master);
  const sub = await call('POST', `/admin/api/customers/${cust.json.customer.id}/keys`, { bearer: token, body: { label: 'logged', rpm_limit: 5 } });
  seen.push(sub.json.key);
  expect((await call('GET', '/.netlify/functions/push-whoami', { bearer: master })).status).toBe(200);
  expect((await call('GET', `/api/push-whoami?key=${master}`, { bearer: sub.json.key })).status).toBe(200);
  // Key material in places it should never be: a body field, a header, a bad JSON body.
  expect((await call('POST', '/admin/api/customers', { bearer: token, body: { email: master, note: master } })).status).toBe(400);
  expect((await call('POST', '/admin/api/customers', { bearer: token, raw: `{"email": "${master}"` })).status).toBe(400);
  expect((await call('GET', '/admin/api/customers', { headers: { 'x-admin-password': adminPassword } })).status).toBe(401);
  const rot = await call('POST', `/admin/api/keys/${sub.json.api_key.id}/rotate`, { bearer: token });
  expect(rot.status).toBe(200);
  seen.push(rot.json.key);
  expect((await call('GET', '/.netlify/functions/push-whoami', { bearer: sub.json.key })).status).toBe(401);
  expect((await call('POST', `/admin/api/keys/${rot.json.api_key.id}/revoke`, { bearer: token })).status).toBe(200);
  expect((await call('GET', '/.netlify/functions/push-whoami', { bearer: `${rot.json.key}x` })).status).toBe(401);
  expect((await call('GET', '/admin/api/customers', { bearer: `${token}x` })).status).toBe(401);
  return seen;
}

function expectClean(log: string, secrets: string[]) {
  expect(log.length).toBeGreaterThan(0);
  for (const s of secrets) expect(log.includes(s), `log contains ${s.slice(0, 12)}…`).toBe(false);
  // No key material at all, even partial: only the redaction marker may follow the prefix.
  expect(log).not.toMatch(/kx_live_(?!\[REDACTED\])[A-Za-z0-9_-]{4,}/);
  // No stack traces.
  expect(log).not.toMatch(/\n\s+at .+:\d+:\d+/);
}

describe('logs', { timeout: 60_000 }, () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('an in-process session logs no key material, password or secret', async () => {
    const logLines: string[] = [];
    const t = await makeTestApp('sqlite', { logLines });
    try {
      const call: Call = async (method, path, o = {}) => {
        const headers: Record<string, string> = { ...o.headers };
        if (o.bearer) headers.authorization = `Bearer ${o.bearer}`;
        const res = await t.req(method, path, { body: o.body, raw: o.raw, headers: o.raw ? { ...headers, 'content-type': 'application/json' } : headers });
        const text = await res.text();
        return { status: res.status, json: (text ? JSON.parse(text) : {}) as Json };
      };
      const seen = await session(call, ADMIN_PASSWORD);
      const s = t.c.config.secrets;
      const log = logLines.join('');
      expect(log).toContain('"msg":"request"');
      expectClean(log, [...seen, s.adminPassword, s.jwtSecret, s.keyPepper, s.encryptionKey, WRONG_PASSWORD]);
    } finally {
      await t.close();
    }
  });

  it("a gateway process's output (debug level) carries no key material, password or secret", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const gw = await startGateway({ ...SECRETS, DATA_DIR: dir, LOG_LEVEL: 'debug' });
    let seen: string[] = [];
    try {
      const call: Call = async (method, path, o = {}) => {
        const headers: Record<string, string> = { ...o.headers };
        if (o.bearer) headers.authorization = `Bearer ${o.bearer}`;
        const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
        if (body !== undefined) headers['content-type'] = 'application/json';
        const res = await fetch(gw.url + path, { method, headers, body });
        return { status: res.status, json: (await res.json()) as Json };
      };
      seen = await session(call, SECRETS.ADMIN_PASSWORD);
    } finally {
      await gw.stop();
    }
    const out = gw.stdout() + gw.stderr();
    expect(out).toContain('kaixu gateway listening');
    expect(out).toContain('"msg":"request"');
    expectClean(out, [...seen, ...Object.values(SECRETS), WRONG_PASSWORD]);
  });
});
