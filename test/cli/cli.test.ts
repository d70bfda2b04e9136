import { rmSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/app/server.ts';
import { testConfig } from '../../src/config/index.ts';
import { migrations } from '../../src/storage/migrations/index.ts';
import { acquireServeLock } from '../../src/storage/serve-lock.ts';
import { ADMIN_PASSWORD } from '../helpers/app.ts';
import { http, runCli, tempDir } from '../foundation/proc.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('kaixu CLI against a running gateway', { timeout: 90_000 }, () => {
  let server: RunningServer;
  const dir = tempDir('kaixu-cli-');
  let auth: string[];
  const cli = (...args: string[]) => runCli(args);
  const json = (out: string) => JSON.parse(out) as Json;

  beforeAll(async () => {
    server = await startServer(testConfig({ DATABASE_URL: `sqlite:${join(dir, 'gw.sqlite')}` }), { port: 0, host: '127.0.0.1' });
    auth = ['--url', server.url, '--password', ADMIN_PASSWORD];
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('customers create | list, keys create | list | rotate | revoke', async () => {
    const created = await cli('customers', 'create', ...auth, '--email', 'CLI@Example.com', '--plan', 'pro', '--cap-cents', '750');
    expect(created.stderr).toContain('shown only once');
    expect(created.code).toBe(0);
    const c = json(created.stdout);
    expect(c.customer).toMatchObject({ email: 'cli@example.com', plan: 'pro', monthly_cap_cents: 750 });
    expect(c.master_key.key).toMatch(/^kx_live_[A-Za-z0-9_-]{48}$/);
    const customerId: string = c.customer.id;

    const [list, keyCreated] = await Promise.all([
      cli('customers', 'list', ...auth, '--limit', '10'),
      cli('keys', 'create', ...auth, '--customer', customerId, '--label', 'from-cli', '--role', 'viewer', '--rpm', '7', '--rpd', '70', '--cap-cents', '100'),
    ]);
    expect(list.code).toBe(0);
    expect(json(list.stdout).customers.map((x: Json) => x.id)).toContain(customerId);
    expect(list.stdout).not.toContain(c.master_key.key);
    expect(keyCreated.code).toBe(0);
    const k = json(keyCreated.stdout);
    expect(k.api_key).toMatchObject({ label: 'from-cli', role: 'viewer', rpm_limit: 7, rpd_limit: 70, monthly_cap_cents: 100, customer_id: customerId });

    // The token flag works in place of the password.
    const token = (await http(server.url, 'POST', '/admin/api/login', { body: { password: ADMIN_PASSWORD } })).json.token as string;
    const keys = await cli('keys', 'list', '--url', server.url, '--token', token, '--customer', customerId);
    expect(keys.code).toBe(0);
    expect(json(keys.stdout).keys.map((x: Json) => x.label).sort()).toEqual(['from-cli', 'master']);
    expect(keys.stdout).not.toContain(k.key);
    expect(keys.stdout).toContain(k.key.slice(-4));

    const rotated = await cli('keys', 'rotate', ...auth, '--key', k.api_key.id);
    expect(rotated.code).toBe(0);
    const r = json(rotated.stdout);
    expect(r).toMatchObject({ old_key_id: k.api_key.id, api_key: { label: 'from-cli', rotated_from: k.api_key.id } });
    expect((await http(server.url, 'GET', '/.netlify/functions/push-whoami', { key: k.key })).status).toBe(401);
    expect((await http(server.url, 'GET', '/.netlify/functions/push-whoami', { key: r.key })).status).toBe(200);

    const revoked = await cli('keys', 'revoke', ...auth, '--key', r.api_key.id);
    expect(revoked.code).toBe(0);
    expect(json(revoked.stdout).api_key.is_revoked).toBe(true);
    expect((await http(server.url, 'GET', '/.netlify/functions/push-whoami', { key: r.key })).status).toBe(401);
  });

  it('prints clear errors and exits 1', async () => {
    // Nothing listens on port 2: a privileged port no test binds and outside fetch's blocked list
    // (port 1 is on it). A port released by freePort() could be taken meanwhile by another test
    // file's process, which would answer instead of refusing.
    const port = 2;
    const results = await Promise.all([
      cli('customers', 'list', '--url', server.url, '--password', 'definitely-wrong-pw'),
      cli('customers', 'list', '--url', `http://127.0.0.1:${port}`, '--password', ADMIN_PASSWORD),
      cli('customers', 'create', ...auth),
      cli('keys', 'rotate', ...auth),
      cli('keys', 'create', ...auth, '--customer', 'cus_missing'),
      cli('customers', 'list', '--url', server.url),
      cli('customers', 'list', ...auth, '--colour', 'blue'),
      cli('customers', 'create', ...auth, '--email', 'not-an-email'),
    ]);
    const expectations: RegExp[] = [
      /Admin login failed: 401 INVALID_CREDENTIALS Invalid credentials/,
      new RegExp(`Cannot reach the gateway at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`),
      /--email is required/,
      /--key is required/,
      /404 NOT_FOUND Customer not found/,
      /No admin credentials/,
      /Unknown option '--colour'/,
      /400 VALIDATION_ERROR .*\n\s+- json\.email: /,
    ];
    results.forEach((res, i) => {
      expect({ i, code: res.code }).toEqual({ i, code: 1 });
      expect(res.stderr, `case ${i}`).toMatch(expectations[i]!);
      expect(res.stderr).toMatch(/^kaixu: /);
      expect(res.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
      expect(res.stdout).toBe('');
    });
  });
});

describe('kaixu migrate', { timeout: 90_000 }, () => {
  it('applies every migration to a fresh SQLite file, then reports it up to date', async () => {
    const dir = tempDir('kaixu-migrate-');
    try {
      const file = join(dir, 'fresh.sqlite');
      const env = { DATABASE_URL: `sqlite:${file}`, DATA_DIR: dir };
      const first = await runCli(['migrate'], env);
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(first.stdout).toContain(`Applied: ${Object.keys(migrations).join(', ')}`);
      const db = new SQLite(file, { readonly: true });
      const tables = (db.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[]).map((r) => r.name);
      const applied = (db.prepare('select name from kaixu_migrations order by name').all() as { name: string }[]).map((r) => r.name);
      db.close();
      expect(tables).toEqual(expect.arrayContaining(['customers', 'api_keys', 'audit_events', 'usage_events', 'key_devices', 'monthly_usage']));
      expect(applied).toEqual(Object.keys(migrations).sort());
      const second = await runCli(['migrate'], env);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain('Database is up to date.');
      // Migrating needs no secrets and must not mint them (serve prints the password on first start).
      expect(() => rmSync(join(dir, 'secrets.json'))).toThrow();
      const bad = await runCli(['migrate'], { DATABASE_URL: 'mysql://nope' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/DATABASE_URL/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a SQLite file a gateway is serving, and changes nothing in it', async () => {
    const dir = tempDir('kaixu-migrate-busy-');
    const file = join(dir, 'served.sqlite');
    const env = { DATABASE_URL: `sqlite:${file}`, DATA_DIR: dir };
    // The lock a running `kaixu serve` holds on the file (an OS lock: the child process sees it).
    const served = acquireServeLock(file);
    try {
      const refused = await runCli(['migrate'], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^kaixu: A kaixu gateway \(pid \d+ on .+\) is serving .*served\.sqlite: stop it before migrating/);
      expect(refused.stdout).toBe('');
      expect(() => new SQLite(file, { readonly: true, fileMustExist: true }).close()).toThrow(); // not even created
    } finally {
      served.release();
    }
    try {
      const after = await runCli(['migrate'], env);
      expect(after.code).toBe(0);
      expect(after.stdout).toContain('Applied: ');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
