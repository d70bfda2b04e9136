import { readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freshPgUrl } from '../helpers/db.ts';
import { freePort, http, runCli, SECRETS, startGateway, tempDir } from '../foundation/proc.ts';

/**
 * What `npm start` runs (`node --import tsx src/cli/main.ts serve`), from a clean data dir with
 * no secrets in the environment: it generates them, prints the admin password once, and serves.
 */
describe.each(['sqlite', 'postgres'] as const)('npm start on %s', { timeout: 90_000 }, (dialect) => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('first start prints a generated admin password that logs in; /health is 200; and (on SQLite) a restart reuses it silently', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
    expect(pkg.scripts.start).toBe('node --import tsx src/cli/main.ts serve');
    const args = ['--import', 'tsx', 'src/cli/main.ts', 'serve'];
    const dir = tempDir('kaixu-start-');
    dirs.push(dir);
    const env: Record<string, string> = { DATA_DIR: dir, LOG_LEVEL: 'info' };
    if (dialect === 'postgres') env.DATABASE_URL = await freshPgUrl();

    const gw = await startGateway(env, { args });
    let password = '';
    try {
      const m = await gw.waitForOutput(/Admin password \(generated[^\n]*\n\s*(\S+)\n/);
      password = m[1]!;
      expect(password.length).toBeGreaterThanOrEqual(20);
      const health = await http(gw.url, 'GET', '/health');
      expect(health.status).toBe(200);
      expect(health.json).toMatchObject({ ok: true, db: { ok: true, dialect } });
      const login = await http(gw.url, 'POST', '/admin/api/login', { body: { password } });
      expect(login.status).toBe(200);
      expect((await http(gw.url, 'GET', '/admin/api/customers', { token: login.json.token })).status).toBe(200);
      // The password is printed to the terminal once, never into the structured log lines.
      const jsonLines = gw.stdout().split('\n').filter((l) => l.startsWith('{'));
      expect(jsonLines.some((l) => l.includes('kaixu gateway listening'))).toBe(true);
      expect(jsonLines.join('\n')).not.toContain(password);
      expect(statSync(join(dir, 'secrets.json')).mode & 0o777).toBe(0o600);
      if (dialect === 'sqlite') expect(statSync(join(dir, 'kaixu.sqlite')).isFile()).toBe(true);
    } finally {
      await gw.stop();
    }
    expect(await gw.exited).toBe(0);
    // The restart path is the same on both databases (config.test.ts covers the file logic); once is enough.
    if (dialect === 'postgres') return;

    const again = await startGateway(env, { args });
    try {
      const login = await http(again.url, 'POST', '/admin/api/login', { body: { password } });
      expect(login.status).toBe(200);
      expect(again.stdout()).not.toContain(password);
      expect(again.stdout()).not.toContain('Admin password');
    } finally {
      await again.stop();
    }
  });
});

describe('serve startup errors', { timeout: 60_000 }, () => {
  it('exits 1 with a clear message when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const dir = tempDir('kaixu-port-');
    try {
      const port = (blocker.address() as { port: number }).port;
      const res = await runCli(['serve'], { DATA_DIR: dir, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn' });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`kaixu: Port already in use: 127.0.0.1:${port}`);
      expect(res.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    } finally {
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the test helper starts a gateway again on a new port when its port was taken before it bound it, and only then', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as { port: number }).port;
    const dir = tempDir('kaixu-race-');
    try {
      // The first port handed out is already taken, as when another test file's process wins the race.
      const asked: number[] = [];
      const port = async () => {
        const p = asked.length === 0 ? taken : await freePort();
        asked.push(p);
        return p;
      };
      const gw = await startGateway({ DATA_DIR: dir, LOG_LEVEL: 'warn', ...SECRETS }, { port });
      try {
        expect(asked).toHaveLength(2);
        expect(gw.url).toBe(`http://127.0.0.1:${asked[1]}`);
        expect((await http(gw.url, 'GET', '/health')).status).toBe(200);
      } finally {
        await gw.stop();
      }
      // Any other failure to start is not retried: a bad setting fails the first start.
      const bad: number[] = [];
      await expect(startGateway({ DATA_DIR: dir, LOG_LEVEL: 'warn', ...SECRETS, MAX_BODY_BYTES: 'lots' }, { port: async () => (bad.push(1), freePort()) })).rejects.toThrow('process exited');
      expect(bad).toHaveLength(1);
    } finally {
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SQLite: a second gateway on the same database file is refused; a crashed one leaves no lock behind', async () => {
    const dir = tempDir('kaixu-lock-');
    try {
      const first = await startGateway({ DATA_DIR: dir, LOG_LEVEL: 'warn', ...SECRETS });
      try {
        const res = await runCli(['serve'], { DATA_DIR: dir, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', ...SECRETS });
        expect(res.code).toBe(1);
        expect(res.stderr).toContain(`kaixu: Another kaixu gateway (pid ${first.proc.pid} on `);
        expect(res.stderr).toContain('run several nodes on PostgreSQL');
        expect(res.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
        // The first one is untouched by the refused start.
        expect((await http(first.url, 'GET', '/health')).status).toBe(200);
        // A gateway that dies without cleaning up (SIGKILL) releases the lock with its process.
        first.proc.kill('SIGKILL');
        await first.exited;
        const next = await startGateway({ DATA_DIR: dir, LOG_LEVEL: 'warn', ...SECRETS });
        try {
          expect((await http(next.url, 'GET', '/health')).status).toBe(200);
        } finally {
          await next.stop();
        }
      } finally {
        await first.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 1 listing every problem', async () => {
    const res = await runCli(['serve'], { PORT: 'eighty', LOG_LEVEL: 'loud', DATA_DIR: '/tmp' });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/Invalid configuration/);
    expect(res.stderr).toMatch(/PORT/);
    expect(res.stderr).toMatch(/LOG_LEVEL/);
  });
});
