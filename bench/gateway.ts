import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { request } from 'undici';
import { freePort, pinAll, schedCpuUs, sleep, spawnNode, type Child } from './procs.ts';
import type { BenchProvider } from './options.ts';
import type { CapMode } from './results.ts';

/**
 * Starts one `kaixu serve` process for the bench (SQLite in a temp DATA_DIR, or a fresh
 * PostgreSQL database dropped at the end) and provisions, through the admin API only, a customer
 * and a key with every governance feature switched on.
 */

export interface GatewayOpts {
  kind: 'sqlite' | 'postgres';
  root: string;
  /** Where it runs once set up (all its threads); it boots on every core. null = not pinned. */
  cores: string | null;
  /** The fake upstream's base URL as the gateway's configuration takes it (OpenAI: `…/v1`; Anthropic: its origin). */
  upstreamBase: string;
  upstreamKey: string;
  /** Which vendor the upstream is (default openai): its base URL and key settings, and the customer's allowlist. */
  provider?: BenchProvider;
  model: string;
  /** Base URL used only to create/drop the throwaway database. */
  pgAdminUrl: string;
  /** Write a V8 CPU profile into this directory (node --cpu-prof). */
  profileDir?: string;
  /** The bench customer's cap mode (default hard: a reservation before every call). */
  capMode?: CapMode;
  /** Extra environment for the gateway process (e.g. MONITOR_ENABLED=false). */
  env?: Record<string, string>;
  /** A command that runs the gateway's node (procs.ts SpawnOpts.wrapper), e.g. valgrind. */
  wrapper?: string[];
  /** How long the gateway may take to answer /health (default 60 s; longer under a wrapper). */
  startTimeoutMs?: number;
  /** More node flags (e.g. --perf-basic-prof, for naming JIT code under callgrind). */
  nodeFlags?: string[];
}

export interface Gateway {
  child: Child;
  url: string;
  key: string;
  installId: string;
  /** What the setup checks saw: governance refusing what it must refuse. */
  refusals: string;
  /**
   * PostgreSQL only: CPU time so far (µs) of each server process (backend) connected to the
   * gateway's database, by pid; null on SQLite or when unreadable. Two readings around a window
   * give the database's CPU for it (stats.ts dbCpuDeltaUs).
   */
  dbCpu?: () => Promise<Map<number, number> | null>;
  /** Monitor events this gateway recorded so far (written + queued + dropped); null when unreadable. */
  monitorRecorded(): Promise<number | null>;
  /**
   * After the load: what the ledger, the seat table and the monitor recorded (one line). Stops
   * the gateway process (its PostgreSQL sessions then flush their statistics).
   */
  finish(): Promise<string>;
  stop(): Promise<void>;
}

export const INSTALL_ID = 'bench-install-0001';

async function http(method: string, url: string, body?: unknown, token?: string): Promise<{ status: number; json: unknown; text: string }> {
  const res = await request(url, {
    method: method as 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.statusCode, json, text };
}

async function must(what: string, p: Promise<{ status: number; json: unknown; text: string }>, ok = [200, 201]) {
  const r = await p;
  if (!ok.includes(r.status)) throw new Error(`${what}: HTTP ${r.status} ${r.text.slice(0, 400)}`);
  return r.json as Record<string, unknown>;
}

interface BenchDb {
  url: string;
  /** Transactions committed and rows written (pg_stat_database; complete once the sessions ended). */
  stats(): Promise<{ commits: number; rowsWritten: number }>;
  /** Gateway.dbCpu: every backend connected to this database (the asking session is on the admin URL's). */
  backendCpu(): Promise<Map<number, number> | null>;
  drop(): Promise<void>;
}

async function createDatabase(adminUrl: string): Promise<BenchDb> {
  const name = `kaixu_bench_${randomBytes(5).toString('hex')}`;
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  // One session kept for the readings between windows (not opened and closed around each).
  let watcher: Promise<pg.Client> | null = null;
  const watch = () =>
    (watcher ??= (async () => {
      const w = new pg.Client({ connectionString: adminUrl });
      w.on('error', () => {});
      await w.connect();
      return w;
    })());
  const admin = async <T>(f: (c: pg.Client) => Promise<T>): Promise<T> => {
    const d = new pg.Client({ connectionString: adminUrl });
    await d.connect();
    try {
      return await f(d);
    } finally {
      await d.end();
    }
  };
  return {
    url: u.toString(),
    stats: () =>
      admin(async (d) => {
        const r = await d.query<{ c: string; w: string }>('SELECT xact_commit AS c, tup_inserted + tup_updated + tup_deleted AS w FROM pg_stat_database WHERE datname = $1', [name]);
        return { commits: Number(r.rows[0]?.c ?? 0), rowsWritten: Number(r.rows[0]?.w ?? 0) };
      }),
    async backendCpu() {
      try {
        const w = await watch();
        const r = await w.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [name]);
        const out = new Map<number, number>();
        for (const { pid } of r.rows) {
          const us = schedCpuUs(pid);
          if (us != null) out.set(pid, us);
        }
        return out;
      } catch {
        return null;
      }
    },
    async drop() {
      if (watcher) await (await watcher.catch(() => null))?.end().catch(() => {});
      watcher = null;
      const d = new pg.Client({ connectionString: adminUrl });
      await d.connect();
      try {
        await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await d.end();
      }
    },
  };
}

/**
 * Proof that governance is on rather than assumed: without the install id, and with a model
 * outside the allowlist, the gateway must refuse. Throws when it answers 200.
 */
async function checkRefusals(url: string, key: string, model: string): Promise<string> {
  const call = (headers: Record<string, string>, m: string) =>
    request(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
      body: JSON.stringify({ model: m, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 }),
    }).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
  const noSeat = await call({}, model);
  const offList = await call({ 'x-kaixu-install-id': INSTALL_ID }, model === 'gpt-4o' ? 'gpt-4.1' : 'gpt-4o');
  if (noSeat.status === 200) throw new Error('governance is off: a call without x-kaixu-install-id was answered (require_install_id is set)');
  if (offList.status === 200) throw new Error('governance is off: a model outside the allowlist was answered');
  return `no install id → ${noSeat.status}, model outside the allowlist → ${offList.status}`;
}

async function auditLine(url: string, token: string, customerId: string, child: Child, db?: BenchDb): Promise<string> {
  const get = (path: string) => must(path, http('GET', `${url}${path}`, undefined, token));
  try {
    const usage = (await get(`/admin/api/customers/${customerId}/usage?limit=1`)) as { customer: { cap_mode: string }; rollup: { calls: number; spent_cents: number; reserved_cents: number } };
    const devices = (await get(`/admin/api/customers/${customerId}/devices`)) as { devices: unknown[] };
    const mon = (await get('/admin/api/monitor/stats')) as { written: number; dropped: number; write_errors: number };
    const u = usage.rollup;
    await child.stop();
    await sleep(300);
    const st = db ? await db.stats() : undefined;
    const pgLine = st && u.calls > 0 ? `; PostgreSQL: ${(st.commits / u.calls).toFixed(1)} transactions and ${(st.rowsWritten / u.calls).toFixed(1)} rows written per ledger call (setup included)` : '';
    return `ledger ${u.calls} calls under ${usage.customer.cap_mode} caps, ${u.spent_cents} ¢ spent, ${u.reserved_cents} ¢ still reserved; ${devices.devices.length} device seat(s); monitor ${mon.written} events written, ${mon.dropped} dropped, ${mon.write_errors} write errors${pgLine}`;
  } catch (e) {
    return `could not read the audit trail: ${(e as Error).message.split('\n')[0]}`;
  }
}

export async function startGateway(o: GatewayOpts): Promise<Gateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kaixu-bench-'));
  const capMode = o.capMode ?? 'hard';
  const provider = o.provider ?? 'openai';
  let db: BenchDb | undefined;
  let child: Child | undefined;
  const cleanup = async () => {
    await child?.stop();
    await db?.drop().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    if (o.kind === 'postgres') db = await createDatabase(o.pgAdminUrl);
    const port = await freePort();
    const password = randomBytes(18).toString('base64url');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      ADMIN_PASSWORD: password,
      ...(provider === 'anthropic' ? { ANTHROPIC_BASE_URL: o.upstreamBase, ANTHROPIC_API_KEY: o.upstreamKey } : { OPENAI_BASE_URL: o.upstreamBase, OPENAI_API_KEY: o.upstreamKey }),
      ...(db ? { DATABASE_URL: db.url } : {}),
      ...o.env,
    };
    const nodeFlags = [...(o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] : []), ...(o.nodeFlags ?? [])];
    // Boots on every core, pinned once set up (procs.ts pinAll).
    child = spawnNode('src/cli/main.ts', ['serve'], { cores: null, env, cwd: o.root, nodeFlags, wrapper: o.wrapper });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + (o.startTimeoutMs ?? 60_000);
    for (;;) {
      if (!child.alive()) throw new Error(`gateway exited during start\n${child.tail()}`);
      const h = await http('GET', `${url}/health`).catch(() => null);
      if (h?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`gateway not healthy after ${Math.round((o.startTimeoutMs ?? 60_000) / 1000)} s (last: ${h ? `HTTP ${h.status}` : 'no answer'})\n${child.tail()}`);
      await sleep(100);
    }
    const { token } = (await must('admin login', http('POST', `${url}/admin/api/login`, { password }))) as { token: string };
    const created = await must(
      'create customer',
      http(
        'POST',
        `${url}/admin/api/customers`,
        {
          email: 'bench@example.com',
          monthly_cap_cents: 10_000_000_000,
          cap_mode: capMode,
          require_install_id: true,
          max_devices_per_key: 5,
          allowed_providers: [provider],
          allowed_models: { [provider]: [o.model] },
          rpm_limit: 10_000_000,
        },
        token,
      ),
    );
    const customer = created.customer as { id: string; cap_mode?: string };
    if (customer.cap_mode !== capMode) throw new Error(`create customer: asked for cap_mode ${capMode}, the gateway recorded ${String(customer.cap_mode)}`);
    const customerId = customer.id;
    const issued = await must('create key', http('POST', `${url}/admin/api/customers/${customerId}/keys`, { label: 'bench', monthly_cap_cents: 10_000_000_000, rpm_limit: 10_000_000 }, token));
    const key = issued.key as string;
    const refusals = await checkRefusals(url, key, o.model);
    if (o.cores) pinAll(child.pid, o.cores);
    const c = child;
    return {
      child: c,
      url,
      key,
      installId: INSTALL_ID,
      refusals,
      ...(db ? { dbCpu: db.backendCpu } : {}),
      monitorRecorded: async () => {
        try {
          const m = (await must('monitor stats', http('GET', `${url}/admin/api/monitor/stats`, undefined, token))) as { written: number; dropped: number; queue_depth: number };
          return m.written + m.dropped + m.queue_depth;
        } catch {
          return null;
        }
      },
      finish: () => auditLine(url, token, customerId, c, db),
      stop: cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
