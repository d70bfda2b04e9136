import { Pool } from 'undici';
import type { ClosedLoopCmd, ClosedLoopResult, LoadRequest, ManyStreamsCmd, ManyStreamsResult, OneStream, RequestSpec, StreamCmd, StreamResult } from './protocol.ts';
import { SseCounter, type StreamFormat } from './sse.ts';

/**
 * The load generator: a separate process (pinned away from the servers by run.ts) driving undici
 * keep-alive pools and timing with process.hrtime.bigint(). It takes commands over IPC and replies
 * with raw samples; statistics are computed by the orchestrator so rounds can be merged.
 */

const now = () => Number(process.hrtime.bigint());
const pools = new Map<string, Pool>();

function poolFor(origin: string, connections: number): Pool {
  const k = `${origin}#${connections}`;
  let p = pools.get(k);
  if (!p) {
    p = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 30_000, bodyTimeout: 30_000 });
    pools.set(k, p);
  }
  return p;
}

const describe = (status: number, body: string) => `HTTP ${status}: ${body.replace(/\s+/g, ' ').slice(0, 300)}`;

function split(req: RequestSpec) {
  const u = new URL(req.url);
  return { origin: u.origin, path: u.pathname + u.search };
}

async function closed(c: ClosedLoopCmd): Promise<ClosedLoopResult> {
  const { origin, path } = split(c.req);
  const pool = poolFor(origin, c.concurrency);
  const latNs: number[] = [];
  const collected: string[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const start = now();
  const end = start + c.durationMs * 1e6;
  // Each worker sends at least one request, however late it gets to run: a smoke check's 1 ms
  // window (targets-setup.ts smoke) must not end before its request starts when this process is
  // descheduled for a moment.
  const worker = async () => {
    do {
      const t0 = now();
      try {
        const res = await pool.request({ method: 'POST', path, headers: c.req.headers, body: c.req.body });
        const text = await res.body.text();
        const t1 = now();
        if (res.statusCode === 200 && text.includes(c.req.expect)) {
          latNs.push(t1 - t0);
          const h = c.collectHeader ? res.headers[c.collectHeader] : undefined;
          if (typeof h === 'string') collected.push(h);
        } else {
          errors++;
          firstError ??= describe(res.statusCode, text);
        }
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
        if (now() - t0 < 1e6) await new Promise((r) => setTimeout(r, 5)); // do not spin on a dead target
      }
    } while (now() < end);
  };
  await Promise.all(Array.from({ length: c.concurrency }, worker));
  return { latNs, errors, firstError, elapsedNs: now() - start, ...(c.collectHeader ? { collected } : {}) };
}

/** One stream: time to the first body byte, total time, and how content events arrived. */
async function oneStream(pool: Pool, req: RequestSpec, format: StreamFormat, collectHeader?: string): Promise<OneStream> {
  const { path } = split(req);
  const t0 = now();
  const res = await pool.request({ method: 'POST', path, headers: req.headers, body: req.body });
  if (res.statusCode !== 200) throw new Error(describe(res.statusCode, await res.body.text()));
  const sse = new SseCounter(format);
  let ttfb = 0;
  let ttft = 0;
  let last = 0;
  let finish = 0;
  res.body.setEncoding('utf8');
  for await (const chunk of res.body as AsyncIterable<string>) {
    const t = now() - t0;
    if (ttfb === 0) ttfb = t;
    if (sse.push(chunk) > 0) {
      if (ttft === 0) ttft = t;
      last = t;
    }
    if (finish === 0 && sse.finished) finish = t;
  }
  const total = now() - t0;
  if (sse.error) throw new Error(`stream error event: ${sse.error}`);
  // A stream's Server-Timing comes in two parts: its headers (to the first event) and its trailer (the rest).
  const header = collectHeader ? [res.headers[collectHeader], res.trailers[collectHeader]].filter((v) => typeof v === 'string').join(', ') || undefined : undefined;
  return { ttfbNs: ttfb, ttftNs: ttft, lastNs: last, finishNs: finish, totalNs: total, content: sse.content, readsWithContent: sse.readsWithContent, alone: sse.alone, maxPerRead: sse.maxPerRead, complete: sse.done, ...(typeof header === 'string' ? { header } : {}) };
}

async function stream(c: StreamCmd): Promise<StreamResult> {
  const { origin } = split(c.req);
  const concurrency = c.concurrency ?? 1;
  const pool = poolFor(origin, concurrency);
  const streams: OneStream[] = [];
  let errors = 0;
  let firstError: string | null = null;
  const start = now();
  const end = start + c.durationMs * 1e6;
  const worker = async () => {
    while (now() < end) {
      try {
        const s = await oneStream(pool, c.req, c.format, c.collectHeader);
        if (s.complete && s.content === c.expectChunks) streams.push(s);
        else {
          errors++;
          firstError ??= `incomplete stream: ${s.content}/${c.expectChunks} content chunks, terminal event ${s.complete ? 'seen' : 'missing'}`;
        }
      } catch (e) {
        errors++;
        firstError ??= (e as Error).message;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { streams, errors, firstError, elapsedNs: now() - start };
}

async function many(c: ManyStreamsCmd): Promise<ManyStreamsResult> {
  const { origin } = split(c.req);
  const pool = new Pool(origin, { connections: c.n, pipelining: 1, headersTimeout: c.timeoutMs, bodyTimeout: c.timeoutMs });
  let open = 0;
  let peakOpen = 0;
  let failed = 0;
  let completed = 0;
  let firstError: string | null = null;
  const ttfbNs: number[] = [];
  const start = now();
  const tasks: Promise<void>[] = [];
  for (let i = 0; i < c.n; i++) {
    if (i > 0 && i % c.rampBatch === 0) await new Promise((r) => setTimeout(r, c.rampGapMs));
    open++;
    peakOpen = Math.max(peakOpen, open);
    tasks.push(
      oneStream(pool, c.req, c.format).then(
        (s) => {
          open--;
          if (s.complete && s.content === c.expectChunks) {
            completed++;
            ttfbNs.push(s.ttfbNs);
          } else {
            failed++;
            firstError ??= `incomplete stream: ${s.content}/${c.expectChunks} content chunks`;
          }
        },
        (e: Error) => {
          open--;
          failed++;
          firstError ??= e.message;
        },
      ),
    );
  }
  await Promise.all(tasks);
  const elapsedNs = now() - start;
  await pool.close();
  return { completed, failed, firstError, peakOpen, elapsedNs, ttfbNs };
}

if (!process.send) {
  console.error('bench/load.ts is driven by bench/run.ts over IPC');
  process.exit(2);
}
process.on('message', (m: LoadRequest) => {
  const run = m.cmd === 'closed' ? closed(m) : m.cmd === 'stream' ? stream(m) : many(m);
  run.then(
    (result) => process.send!({ id: m.id, ok: true, result }),
    (e: Error) => process.send!({ id: m.id, ok: false, error: e.message }),
  );
});
process.on('disconnect', () => {
  for (const p of pools.values()) void p.destroy();
  process.exit(0);
});
process.send({ ready: true });
