import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../bench/procs.ts';
import { ensureLocalPostgres, localClusters } from '../../bench/services.ts';

/**
 * The bench starts the local PostgreSQL when it is down (bench/services.ts). The start is checked
 * for real on a throwaway cluster of this machine's PostgreSQL (pg_createcluster on a free port,
 * left down, dropped at the end); the machine's own cluster is only read, never stopped.
 */

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const canMakeClusters = process.getuid?.() === 0 && ['pg_createcluster', 'pg_ctlcluster', 'pg_dropcluster', 'pg_lsclusters', 'pg_isready'].every(has);

describe('the local PostgreSQL (bench/services.ts)', () => {
  it('a running local database is left as it is', async () => {
    expect(await ensureLocalPostgres(PG_URL)).toEqual({ state: 'running' });
  });

  it('a database on another host is never touched', async () => {
    expect(await ensureLocalPostgres('postgres://postgres@db.example.com:5432/postgres')).toEqual({ state: 'remote' });
  });

  it.skipIf(!has('pg_isready'))('a local port with no cluster behind it is reported, not guessed at', async () => {
    const port = await freePort();
    const r = await ensureLocalPostgres(`postgres://postgres@127.0.0.1:${port}/postgres`, 2_000);
    expect(r).toEqual({ state: 'failed', why: `nothing answers on port ${port} and no local cluster is set up on it (pg_lsclusters)` });
  });

  it.skipIf(!canMakeClusters)('a local cluster that is down is started, found by its port', async () => {
    const port = await freePort();
    const version = localClusters()[0]?.version ?? spawnSync('ls', ['/etc/postgresql'], { encoding: 'utf8' }).stdout.trim().split('\n')[0]!;
    const name = `kxbench${process.pid}`;
    const made = spawnSync('pg_createcluster', [version, name, '-p', String(port)], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    try {
      expect(localClusters().find((c) => c.name === name)).toMatchObject({ version, port, status: 'down' });
      const r = await ensureLocalPostgres(`postgres://postgres@127.0.0.1:${port}/postgres`);
      expect(r).toEqual({ state: 'started', cluster: { version, name, port, status: 'down' } });
      expect(spawnSync('pg_isready', ['-q', '-h', '127.0.0.1', '-p', String(port)]).status).toBe(0);
      expect(await ensureLocalPostgres(`postgres://postgres@localhost:${port}/postgres`)).toEqual({ state: 'running' });
    } finally {
      spawnSync('pg_dropcluster', ['--stop', version, name]);
    }
    expect(localClusters().some((c) => c.name === name)).toBe(false);
  }, 60_000);
});
