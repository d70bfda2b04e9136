import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type ErrorBehavior, type FakeBehavior, type FakeChatCall, type FakeReply, makeReply } from './behavior.ts';

/**
 * A tiny fake-upstream server on node:http (loopback, port 0). The provider-specific part is a
 * FakeDialect; this base does routing, auth, the behaviour queue, pacing, cuts, recording of
 * every request, and socket-close timestamps (disconnect tests).
 */

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export type FakeRoute = { kind: 'chat'; stream: boolean; model?: string; sse?: boolean } | { kind: 'other'; name: string; model?: string };

export interface StreamRender {
  frames: string[];
  /** Frames at the end that make the provider's terminal part ([DONE], message_stop, finish chunk). */
  terminal: number;
}

export interface FakeDialect {
  readonly name: string;
  /** What clients append to the server URL to get the provider's base URL ('/v1' for OpenAI). */
  readonly basePath: string;
  /** Response headers every answer carries (request ids…). */
  headers(): Record<string, string>;
  route(method: string, url: URL): FakeRoute | null;
  /** null when the credential is right. */
  checkAuth(headers: IncomingHttpHeaders, url: URL, apiKey: string): FakeResponse | null;
  /** Validates like the provider does; a FakeResponse is a 400. */
  parseChat(body: unknown, route: Extract<FakeRoute, { kind: 'chat' }>): FakeChatCall | FakeResponse;
  chatBody(call: FakeChatCall, reply: FakeReply): string;
  stream(call: FakeChatCall, reply: FakeReply): StreamRender;
  /** Non-SSE streaming flavour (Gemini without alt=sse answers a JSON array). */
  streamAsJson?(call: FakeChatCall, reply: FakeReply): string;
  error(b: ErrorBehavior): FakeResponse;
  streamErrorFrame(): string;
  malformedFrame(): string;
  other?(name: string, body: unknown, route: FakeRoute): FakeResponse;
}

export interface RecordedRequest {
  seq: number;
  method: string;
  /** Path with query string. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON (undefined when the body was not JSON). */
  body: unknown;
  rawBody: string;
  receivedAt: number;
  behavior?: FakeBehavior;
  status?: number;
  framesSent: number;
  /** Times res.write returned false and the fake waited for 'drain' (the reader applied backpressure). */
  backpressureWaits: number;
  /** The response was fully written before the connection went away. */
  completed: boolean;
  /** When the connection closed while this response was unfinished (epoch ms): disconnect tests. */
  socketClosedAt?: number;
}

export interface FakeOptions {
  apiKey?: string;
  /** Record requests (default true; the benchmark turns it off). */
  record?: boolean;
}

const MAX_RECORDS = 10_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Closes the connection mid-body once what was written has been flushed (a peer that died). */
function cutSocket(res: ServerResponse): void {
  const sock = res.socket;
  if (!sock) return;
  sock.end(() => sock.destroy());
}

function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export class FakeUpstream extends EventEmitter {
  readonly requests: RecordedRequest[] = [];
  readonly apiKey: string;
  private queue: FakeBehavior[] = [];
  private fallback: FakeBehavior = { kind: 'ok' };
  private readonly sockets = new Set<Socket>();
  /** Requests on each connection whose response has not finished (they see the socket close). */
  private readonly inflight = new WeakMap<Socket, Set<RecordedRequest>>();
  private readonly server: Server;
  private readonly record: boolean;
  private seq = 0;
  /** Rendered default answers by request body (the benchmark sends the same body repeatedly). */
  private readonly cache = new Map<string, { status: number; body?: string; frames?: string[] }>();
  url = '';

  /** The base URL an adapter/SDK is configured with. */
  get baseUrl(): string {
    return this.url + this.dialect.basePath;
  }

  constructor(
    readonly dialect: FakeDialect,
    opts: FakeOptions & { defaultKey: string },
  ) {
    super();
    this.apiKey = opts.apiKey ?? opts.defaultKey;
    this.record = opts.record ?? true;
    this.server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(e));
        } else res.destroy();
      });
    });
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      const recs = new Set<RecordedRequest>();
      this.inflight.set(s, recs);
      s.once('close', () => {
        this.sockets.delete(s);
        const at = Date.now();
        for (const rec of recs) {
          rec.socketClosedAt = at;
          this.emit('socket-close', rec);
        }
      });
    });
  }

  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Queue behaviours for the next chat requests, in order. */
  enqueue(...b: FakeBehavior[]): this {
    this.queue.push(...b);
    return this;
  }

  /** Behaviour once the queue is empty. */
  setDefault(b: FakeBehavior): this {
    this.fallback = b;
    return this;
  }

  reset(): void {
    this.queue = [];
    this.fallback = { kind: 'ok' };
    this.requests.length = 0;
  }

  last(): RecordedRequest | undefined {
    return this.requests[this.requests.length - 1];
  }

  /** Resolves with the next request to arrive. */
  nextRequest(timeoutMs = 5_000): Promise<RecordedRequest> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.dialect.name} fake: no request within ${timeoutMs} ms`)), timeoutMs);
      this.once('request', (r: RecordedRequest) => {
        clearTimeout(t);
        resolve(r);
      });
    });
  }

  /** Resolves with the epoch ms at which the request's connection closed. */
  async waitForSocketClose(rec: RecordedRequest, timeoutMs = 5_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (rec.socketClosedAt === undefined) {
      if (Date.now() > deadline) throw new Error(`${this.dialect.name} fake: socket still open after ${timeoutMs} ms`);
      await sleep(2);
    }
    return rec.socketClosedAt;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const rec: RecordedRequest = {
      seq: ++this.seq,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      body: undefined,
      rawBody,
      receivedAt: Date.now(),
      framesSent: 0,
      backpressureWaits: 0,
      completed: false,
    };
    const inflight = this.inflight.get(req.socket);
    inflight?.add(rec);
    res.once('close', () => {
      rec.completed = res.writableFinished;
      // A finished response leaves the (keep-alive) socket; only unfinished ones see its close.
      if (rec.completed) inflight?.delete(rec);
    });
    if (this.record) {
      if (this.requests.length >= MAX_RECORDS) this.requests.shift();
      this.requests.push(rec);
    }
    this.emit('request', rec);

    const route = this.dialect.route(rec.method, url);
    if (!route) return this.send(res, rec, { status: 404, body: JSON.stringify({ error: { message: `no route ${rec.method} ${url.pathname}` } }) });
    const denied = this.dialect.checkAuth(req.headers, url, this.apiKey);
    if (denied) return this.send(res, rec, denied);
    if (rawBody.length > 0) {
      try {
        rec.body = JSON.parse(rawBody) as unknown;
      } catch {
        return this.send(res, rec, { status: 400, body: JSON.stringify({ error: { message: 'invalid JSON body' } }) });
      }
    }
    if (route.kind === 'other') {
      const r = this.dialect.other?.(route.name, rec.body, route) ?? { status: 404, body: '{}' };
      return this.send(res, rec, r);
    }
    const behavior = this.queue.shift() ?? this.fallback;
    rec.behavior = behavior;
    if (behavior.kind === 'hang') return;
    if (behavior.kind === 'error') return this.send(res, rec, this.dialect.error(behavior));
    const parsed = this.dialect.parseChat(rec.body, route);
    if ('status' in parsed) return this.send(res, rec, parsed);
    if (behavior.firstByteDelayMs) await sleep(behavior.firstByteDelayMs);
    if (res.destroyed) return;
    // Answers are deterministic for a body and behaviour. Tests (record on) cache only plain ones,
    // so a paced or shaped answer is built afresh; the benchmark (record off) caches every `ok`
    // answer, so its paced streams cost the fake as little as its plain ones.
    const plain = behavior.kind === 'ok' && Object.keys(behavior).length === 1;
    const cacheable = plain || (!this.record && behavior.kind === 'ok');
    const cacheKey = cacheable ? `${url.pathname}${url.search}\n${plain ? '' : JSON.stringify(behavior)}\n${rawBody}` : undefined;
    const cached = cacheKey ? this.cache.get(cacheKey) : undefined;
    if (cached?.frames) return this.writeFrames(res, rec, cached.frames, behavior);
    if (cached?.body !== undefined) return this.send(res, rec, { status: 200, body: cached.body });

    const reply = makeReply(parsed, behavior);
    if (!parsed.stream) {
      const body = this.dialect.chatBody(parsed, reply);
      if (behavior.kind === 'cut') return this.cutBody(res, rec, body);
      if (behavior.kind === 'malformed') return this.send(res, rec, { status: 200, body: body.slice(0, Math.floor(body.length / 2)) });
      if (cacheKey) this.remember(cacheKey, { status: 200, body });
      return this.send(res, rec, { status: 200, body });
    }
    if (route.sse === false && this.dialect.streamAsJson) {
      return this.send(res, rec, { status: 200, body: this.dialect.streamAsJson(parsed, reply) });
    }
    const { frames, terminal } = this.dialect.stream(parsed, reply);
    if (cacheKey) this.remember(cacheKey, { status: 200, frames });
    let out = frames;
    if (behavior.kind === 'truncate') out = frames.slice(0, frames.length - terminal);
    else if (behavior.kind === 'malformed') out = [...frames.slice(0, behavior.afterFrames ?? 1), this.dialect.malformedFrame()];
    else if (behavior.kind === 'stream-error') out = [...frames.slice(0, behavior.afterFrames ?? 1), this.dialect.streamErrorFrame()];
    return this.writeFrames(res, rec, out, behavior);
  }

  private remember(key: string, v: { status: number; body?: string; frames?: string[] }): void {
    if (this.cache.size > 256) this.cache.clear();
    this.cache.set(key, v);
  }

  private send(res: ServerResponse, rec: RecordedRequest, r: FakeResponse): void {
    rec.status = r.status;
    const body = Buffer.from(r.body, 'utf8');
    res.writeHead(r.status, {
      'content-type': 'application/json',
      'content-length': String(body.length),
      ...this.dialect.headers(),
      ...r.headers,
    });
    res.end(body);
  }

  private cutBody(res: ServerResponse, rec: RecordedRequest, body: string): void {
    rec.status = 200;
    const buf = Buffer.from(body, 'utf8');
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(buf.length), ...this.dialect.headers() });
    res.write(buf.subarray(0, Math.floor(buf.length / 2)), () => res.socket?.destroy());
  }

  private async writeFrames(res: ServerResponse, rec: RecordedRequest, frames: string[], b: FakeBehavior): Promise<void> {
    rec.status = 200;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...this.dialect.headers(),
    });
    res.flushHeaders();
    const delayMs = b.kind === 'hang' || b.kind === 'error' ? 0 : (b.chunkDelayMs ?? 0);
    const stallAfter = b.kind === 'hang' || b.kind === 'error' ? undefined : b.stallAfterFrames;
    const cutAfter = b.kind === 'cut' ? (b.afterFrames ?? 2) : undefined;
    // Frame i is due i × delay after the first, on this upstream's own clock: a real upstream
    // generates at its own pace whatever its reader does, so a reader that is slow, or a proxy
    // sharing this machine's CPU, does not push the later frames back (a frame that is late
    // goes out at once).
    const start = performance.now();
    for (let i = 0; i < frames.length; i++) {
      if (res.destroyed) return;
      if (cutAfter !== undefined && i === cutAfter) return cutSocket(res);
      if (stallAfter !== undefined && i === stallAfter) return;
      const wait = i > 0 && delayMs > 0 ? start + i * delayMs - performance.now() : 0;
      if (wait > 0) {
        await sleep(wait);
        if (res.destroyed) return;
      }
      rec.framesSent++;
      if (!res.write(frames[i])) {
        rec.backpressureWaits++;
        await drainOrClose(res);
      }
    }
    if (cutAfter !== undefined) return cutSocket(res);
    res.end();
  }
}
