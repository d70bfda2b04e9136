import { spawnSync } from 'node:child_process';
import { sleep } from './procs.ts';

/**
 * The bench starts what it needs (issue 7), the local PostgreSQL included: when the database the
 * PostgreSQL target uses is a cluster of this machine and is down, it is started the way DESIGN.md
 * says (`pg_ctlcluster --skip-systemctl-redirect <version> <cluster> start`, the cluster found by
 * its port in `pg_lsclusters`). A database on another host is never touched.
 */

export interface PgCluster {
  version: string;
  name: string;
  port: number;
  status: string;
}

/** What ensureLocalPostgres found or did. */
export type PgReadiness =
  | { state: 'running' }
  | { state: 'started'; cluster: PgCluster }
  | { state: 'remote' }
  | { state: 'unknown'; why: string }
  | { state: 'failed'; why: string };

const LOCAL = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** The clusters of this machine (Debian's postgresql-common), empty when it has none. */
export function localClusters(): PgCluster[] {
  const r = spawnSync('pg_lsclusters', ['--no-header'], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]!))
    .map(([version, name, port, status]) => ({ version: version!, name: name!, port: Number(port), status: status! }));
}

function ready(host: string, port: number): boolean | null {
  const r = spawnSync('pg_isready', ['-q', '-h', host, '-p', String(port)], { stdio: 'ignore' });
  if (r.error) return null; // no pg_isready here
  return r.status === 0;
}

export async function ensureLocalPostgres(url: string, timeoutMs = 30_000): Promise<PgReadiness> {
  let host: string;
  let port: number;
  try {
    const u = new URL(url);
    host = u.hostname || '127.0.0.1';
    port = u.port ? Number(u.port) : 5432;
  } catch {
    return { state: 'unknown', why: 'the PostgreSQL URL does not parse' };
  }
  if (!LOCAL.has(host)) return { state: 'remote' };
  const bare = host.replace(/^\[|\]$/g, '');
  const up = ready(bare, port);
  if (up === null) return { state: 'unknown', why: 'pg_isready is not installed' };
  if (up) return { state: 'running' };
  const cluster = localClusters().find((c) => c.port === port);
  if (!cluster) return { state: 'failed', why: `nothing answers on port ${port} and no local cluster is set up on it (pg_lsclusters)` };
  const start = spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', cluster.version, cluster.name, 'start'], { encoding: 'utf8' });
  if (start.status !== 0) return { state: 'failed', why: `pg_ctlcluster ${cluster.version} ${cluster.name} start: ${(start.stderr || start.error?.message || `exit ${start.status}`).trim()}` };
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(200)) if (ready(bare, port)) return { state: 'started', cluster };
  return { state: 'failed', why: `cluster ${cluster.version}/${cluster.name} started but does not accept connections after ${timeoutMs / 1000} s` };
}
