import { mkdtempSync, openSync, readSync, closeSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { startGateway, type Gateway } from './gateway.ts';
import { icSites, missesPerRequest, renderIcWorkload, type IcWorkload } from './ic-log.ts';
import { drive } from './instructions.ts';
import type { RequestSpec } from './protocol.ts';
import { gatewayRuntimes, startUpstream, UPSTREAM_KEY, type Upstream } from './targets-setup.ts';

/**
 * `npm run bench -- --ic`: the gateway / SQLite (full governance, the timed bench's setup) under
 * `node --log-ic`, and for each workload the IC misses per request after a warm-up (ic-log.ts) —
 * which property accesses of the request path still go to V8's runtime on every call, by function.
 * Not timed, and not a count of instructions: the list of sites to look at. With --baseline, the
 * same for the gateway at that git ref, after this tree's.
 */

export interface IcSettings {
  warmup: number;
  requests: number;
  /** Rows per workload table. */
  top: number;
}

export interface IcOpts {
  root: string;
  model: string;
  settings: IcSettings;
  /** Also the gateway at this ref (a worktree, bench/baseline.ts). */
  baseline?: { root: string; ref: string };
  log(s: string): void;
  stoppers: (() => Promise<void>)[];
}

export interface IcTree {
  label: string;
  workloads: IcWorkload[];
}

/**
 * The pollers that run on a timer, whatever the traffic (the job runner's claim, the cluster
 * invalidation poll: 4 a second), at their longest intervals. Their misses are not the request
 * path's, and a window's share of them grows with its length: on a busy host (CI runs the test
 * beside the rest of the suite) they alone pushed a window past one miss per request.
 */
const QUIET_POLLERS = { JOBS_POLL_MS: '600000', INVALIDATION_POLL_MS: '60000' };

/** Streams cost 20 upstream chunks each: fewer of them give the same picture. */
const STREAM_SHARE = 5;

function readRange(file: string, from: number, to: number): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(to - from);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, from + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

async function measureTree(label: string, root: string, upstream: Upstream, o: IcOpts): Promise<IcTree> {
  const dir = mkdtempSync(join(tmpdir(), 'kaixu-ic-'));
  const logFile = join(dir, 'ic.log');
  let gw: Gateway | undefined;
  try {
    o.log(`${label}: starting under --log-ic`);
    gw = await startGateway({
      kind: 'sqlite',
      root,
      cores: null,
      upstreamBase: `${upstream.url}/v1`,
      upstreamKey: UPSTREAM_KEY,
      model: o.model,
      pgAdminUrl: '',
      nodeFlags: ['--log-ic', '--no-logfile-per-isolate', `--logfile=${logFile}`],
      env: QUIET_POLLERS,
      startTimeoutMs: 180_000,
    });
    const [v1, seed] = gatewayRuntimes('gw-sqlite', gw, o.model);
    const work: { label: string; req: RequestSpec; share: number }[] = [
      { label: 'POST /v1/chat/completions', req: v1!.chat, share: 1 },
      // What many clients send: no max_tokens, temperature or stop (the gateway fills in its defaults).
      { label: 'POST /v1/chat/completions, model and messages only', req: { ...v1!.chat, body: JSON.stringify({ model: o.model, messages: [{ role: 'user', content: 'Say hello.' }] }) }, share: 1 },
      { label: 'POST /.netlify/functions/gateway-chat', req: seed!.chat, share: 1 },
      { label: 'POST /v1/chat/completions, stream', req: v1!.stream!.req, share: STREAM_SHARE },
    ];
    const pool = new Pool(gw.url, { connections: 1 });
    const workloads: IcWorkload[] = [];
    try {
      for (const w of work) {
        const warm = Math.ceil(o.settings.warmup / w.share);
        const n = Math.ceil(o.settings.requests / w.share);
        o.log(`${label}: ${w.label}: ${warm} requests of warm-up, then ${n} read off the log`);
        await drive(pool, w.req, warm);
        const from = statSync(logFile).size;
        await drive(pool, w.req, n);
        const to = statSync(logFile).size;
        workloads.push({ label: w.label, requests: n, sites: icSites(readRange(logFile, 0, from), readRange(logFile, from, to), root) });
      }
    } finally {
      await pool.close();
    }
    return { label, workloads };
  } finally {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runIc(o: IcOpts, thisLabel: string): Promise<IcTree[]> {
  const upstream = await startUpstream(o.root, null);
  o.stoppers.push(() => upstream.child.stop());
  const trees = [await measureTree(thisLabel, o.root, upstream, o)];
  if (o.baseline) trees.push(await measureTree(`${o.baseline.ref} (baseline)`, o.baseline.root, upstream, o));
  await upstream.child.stop();
  return trees;
}

export function renderIc(trees: IcTree[], s: IcSettings, header: string): string {
  const totals = trees.map((t) => `| ${t.label} | ${t.workloads.map((w) => missesPerRequest(w).toFixed(2)).join(' | ')} |`);
  const cols = trees[0]?.workloads.map((w) => w.label) ?? [];
  return [
    '# Kaixu Gateway — IC misses per request (`node --log-ic`)',
    '',
    header,
    `- **Method**: the gateway / SQLite with full governance under \`node --log-ic\`, one keep-alive connection; per workload ${s.warmup} requests of warm-up (streams: ÷ ${STREAM_SHARE}), then ${s.requests} (streams: ÷ ${STREAM_SHARE}) whose log lines are read; the job runner's and the invalidation poll's timers at their longest (they run whatever the traffic). A miss is an access V8's inline cache could not serve: the runtime did it (bench/ic-log.ts).`,
    '',
    `| tree | ${cols.join(' | ')} |`,
    `|:---|${cols.map(() => '---:').join('|')}|`,
    ...totals,
    '',
    ...trees.flatMap((t) => [`## ${t.label}`, '', ...t.workloads.map((w) => renderIcWorkload(w, s.top))]),
  ].join('\n');
}
