import { Pool, type Dispatcher } from 'undici';
import type { HttpRequestSpec, ProviderError } from '../providers/types.ts';
import { CallAbort, type UpstreamSignal } from './abort.ts';

/**
 * The one place the data plane does upstream HTTP. One keep-alive undici Pool per origin (and
 * connect timeout), HTTP/1.1 without pipelining (one request per connection at a time, so
 * aborting a request can destroy its socket without hurting others). Requests go through the
 * Pool's `dispatch` with our own handler (Exchange, below), not `request()`.
 *
 * Timeouts map onto undici's own timers: connect → `connect.timeout` (TCP + TLS handshake),
 * first byte → `headersTimeout` (request sent → response headers complete), idle →
 * `bodyTimeout` (gap between body chunks). When the caller's signal (an AbortSignal or the
 * cheaper CallAbort) trips, the exchange aborts undici's request, which destroys the socket of
 * an in-flight HTTP/1.1 request at once — that is how a client disconnect stops the upstream
 * generation.
 */
export interface SendOptions {
  signal: UpstreamSignal;
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
  idleTimeoutMs: number;
  /** Provider name put into errors (defaults to the URL's host). */
  provider?: string;
}

export interface UpstreamBody extends AsyncIterable<Uint8Array> {
  /**
   * The next chunk already received, without waiting; undefined when none is queued. undici hands
   * over a chunked body one HTTP chunk at a time, so what one socket read brought can be several:
   * after an awaited chunk, this drains the rest of them.
   */
  readNow(): Uint8Array | undefined;
  /** Stop reading and close the upstream socket (idempotent). */
  cancel(): void;
  /** Read the whole body as UTF-8 (non-stream responses and error bodies). */
  text(): Promise<string>;
}

export interface UpstreamResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: UpstreamBody;
}

/** Thrown by `send` and by body iteration/`text()`; `error` is the normalized ProviderError. */
export class UpstreamError extends Error {
  constructor(readonly error: ProviderError) {
    super(error.message);
    this.name = 'UpstreamError';
  }
}

export const isUpstreamError = (e: unknown): e is UpstreamError => e instanceof UpstreamError;

const CONNECT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT']);

/** Maps anything undici (or the socket) throws to a ProviderError with status 0. */
export function classifyTransportError(e: unknown, provider: string, signal?: UpstreamSignal): ProviderError {
  if (e instanceof UpstreamError) return e.error;
  if (signal?.aborted) {
    return { provider, status: 0, retryable: false, cause: 'network', type: 'aborted', message: 'upstream request aborted' };
  }
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
  if (CONNECT_CODES.has(code)) return { provider, status: 0, retryable: true, cause: 'connect', message: 'upstream connect timeout' };
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    return { provider, status: 0, retryable: true, cause: 'first_byte', message: 'upstream first-byte timeout' };
  }
  if (code === 'UND_ERR_BODY_TIMEOUT') return { provider, status: 0, retryable: true, cause: 'idle', message: 'upstream idle timeout' };
  // Connection refused/reset, DNS failure, socket closed mid-response, HTTP parse errors.
  const what = code ? ` (${code})` : '';
  return { provider, status: 0, retryable: true, cause: 'network', message: `upstream connection error${what}` };
}

/** ProviderError for anything caught around an upstream call. */
export function asProviderError(e: unknown, provider: string, signal?: UpstreamSignal): ProviderError {
  return classifyTransportError(e, provider, signal);
}

/** Response headers as undici hands them: lower-case names, repeated ones as arrays. */
type ResponseHeaders = Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2];

function flattenHeaders(h: ResponseHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** Unread body bytes past which the socket stops being read until the reader catches up (as a Readable's highWaterMark). */
const HIGH_WATER = 64 * 1024;

type Waiter<T> = { resolve(v: T): void; reject(e: unknown): void };

const DONE: IteratorResult<Uint8Array> = { done: true, value: undefined };

/**
 * One upstream exchange: undici's dispatch handler and, once the headers came, the response body.
 * Driving the Pool's dispatch directly instead of `request()` saves, on every call, the Readable
 * wrapped around the body, its async-hooks resource and the stream machinery of `text()` — the
 * data plane reads a body either whole (JSON) or chunk by chunk (SSE), and needs nothing else.
 *
 * Chunks that arrive before the reader asks are queued; past HIGH_WATER unread bytes the socket is
 * paused (backpressure reaches the upstream). A transport failure after the headers is delivered
 * after the chunks that arrived before it; our own abort (the signal) and `cancel()` stop at once.
 */
class Exchange implements Dispatcher.DispatchHandler, UpstreamBody, AsyncIterator<Uint8Array> {
  private controller: Dispatcher.DispatchController | null = null;
  private state: 'head' | 'body' | 'ended' | 'failed' = 'head';
  private failure: UpstreamError | null = null;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private reader: Waiter<IteratorResult<Uint8Array>> | null = null;
  private whole: Waiter<string> | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private head: Waiter<UpstreamResponse> | null,
    private readonly provider: string,
    private readonly signal: UpstreamSignal,
  ) {
    // Inline listener: no per-call named closure on the hot path (CallAbort).
    if (signal instanceof CallAbort) this.unsubscribe = signal.onAbort(() => this.abortNow());
    else {
      const onAbort = () => this.abortNow();
      signal.addEventListener('abort', onAbort, { once: true });
      this.unsubscribe = () => signal.removeEventListener('abort', onAbort);
    }
  }

  private abortNow(): void {
    this.queue.length = 0;
    this.fail(new Error('aborted'));
  }

  /** Ends the exchange with a transport failure (the first one wins) and closes the socket. */
  private fail(e: unknown): void {
    if (this.state === 'ended' || this.state === 'failed') return;
    this.state = 'failed';
    this.unsubscribe?.();
    const err = (this.failure = e instanceof UpstreamError ? e : new UpstreamError(classifyTransportError(e, this.provider, this.signal)));
    this.controller?.abort(err);
    if (this.head) this.head.reject(err);
    this.head = null;
    // A waiting reader means nothing is queued; text() gives up on a partial body.
    this.settleWaiters();
  }

  private settleWaiters(): void {
    const { reader, whole } = this;
    this.reader = this.whole = null;
    if (this.state === 'failed') {
      reader?.reject(this.failure);
      whole?.reject(this.failure);
    } else if (this.state === 'ended') {
      reader?.resolve(DONE);
      whole?.resolve(this.drain());
    }
  }

  /** The queued bytes as UTF-8 text, as fetch's `text()` decodes it (a leading BOM dropped). */
  private drain(): string {
    const buf = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue, this.queued);
    this.queue.length = 0;
    this.queued = 0;
    const bom = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf;
    return buf.toString('utf8', bom ? 3 : 0);
  }

  // --- undici's side ---

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Aborted or cancelled while the request waited for a connection.
    if (this.state === 'failed') controller.abort(this.failure!);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: ResponseHeaders): void {
    if (statusCode < 200 || this.state !== 'head') return;
    this.state = 'body';
    const head = this.head!;
    this.head = null;
    head.resolve({ status: statusCode, headers: flattenHeaders(headers), body: this });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.state !== 'body') return;
    const reader = this.reader;
    if (reader) {
      this.reader = null;
      reader.resolve({ done: false, value: chunk });
      return;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.queued > HIGH_WATER && !this.whole) controller.pause();
  }

  onResponseEnd(): void {
    if (this.state !== 'body') return;
    this.state = 'ended';
    this.unsubscribe?.();
    if (this.queue.length === 0 || this.whole) this.settleWaiters();
  }

  onResponseError(_c: Dispatcher.DispatchController, e: Error): void {
    this.fail(e);
  }

  // --- the reader's side ---

  // The exchange is its own iterator. An object of arrow properties, made per stream on the way to
  // its first byte, costs a named closure each under tsx (keepNames: a defineProperty call) —
  // ≈ 10 µs for the two in a process that just ran other code, 0.5 µs for `return this`.
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this;
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    this.cancel();
    return Promise.resolve(DONE);
  }

  readNow(): Uint8Array | undefined {
    const chunk = this.queue.shift();
    if (chunk) {
      this.queued -= chunk.length;
      if (this.controller?.paused && this.queued <= HIGH_WATER / 2) this.controller.resume();
    }
    return chunk;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    const chunk = this.readNow();
    if (chunk) return Promise.resolve({ done: false, value: chunk });
    if (this.state === 'ended') return Promise.resolve(DONE);
    if (this.state === 'failed') return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.reader = { resolve, reject }));
  }

  cancel(): void {
    this.queue.length = 0;
    this.queued = 0;
    if (this.state === 'ended' || this.state === 'failed') return;
    this.fail(new UpstreamError({ provider: this.provider, status: 0, retryable: false, cause: 'network', type: 'aborted', message: 'upstream body cancelled' }));
  }

  text(): Promise<string> {
    if (this.state === 'ended') return Promise.resolve(this.drain());
    if (this.state === 'failed') return Promise.reject(this.failure);
    const p = new Promise<string>((resolve, reject) => (this.whole = { resolve, reject }));
    // After `whole` is set: resuming delivers data synchronously, and none of it may pause again.
    if (this.controller?.paused) this.controller.resume();
    return p;
  }
}

interface Target {
  origin: string;
  path: string;
  /** The pool the last call to this URL used, and its connect timeout (the pool's other key). */
  pool?: Pool;
  connectTimeoutMs?: number;
}

export class UpstreamClient {
  private readonly pools = new Map<string, Pool>();
  private readonly targets = new Map<string, Target>();
  private closed = false;

  private target(url: string): Target {
    let t = this.targets.get(url);
    if (!t) {
      const u = new URL(url);
      t = { origin: u.origin, path: u.pathname + u.search };
      // URLs come from configuration × model names: bounded, but guard against unbounded growth.
      if (this.targets.size > 10_000) this.targets.clear();
      this.targets.set(url, t);
    }
    return t;
  }

  private pool(origin: string, connectTimeoutMs: number): Pool {
    const key = `${origin}|${connectTimeoutMs}`;
    let p = this.pools.get(key);
    if (!p) {
      p = new Pool(origin, { pipelining: 1, connect: { timeout: connectTimeoutMs } });
      this.pools.set(key, p);
    }
    return p;
  }

  /**
   * Sends the request and resolves once response headers arrived (any status). Rejects with
   * UpstreamError on abort, timeout or connection failure. The body must be consumed, or
   * `cancel()`ed, to free the connection.
   */
  async send(spec: HttpRequestSpec, opts: SendOptions): Promise<UpstreamResponse> {
    const t = this.target(spec.url);
    const provider = opts.provider ?? t.origin;
    if (this.closed) throw new UpstreamError({ provider, status: 0, retryable: false, cause: 'network', message: 'upstream client closed' });
    if (opts.signal.aborted) throw new UpstreamError(classifyTransportError(null, provider, opts.signal));
    // The pool is kept on the target: no `origin|timeout` key to build and hash on every call.
    let pool = t.pool;
    if (!pool || t.connectTimeoutMs !== opts.connectTimeoutMs) {
      pool = t.pool = this.pool(t.origin, opts.connectTimeoutMs);
      t.connectTimeoutMs = opts.connectTimeoutMs;
    }
    return new Promise<UpstreamResponse>((resolve, reject) => {
      const x = new Exchange({ resolve, reject }, provider, opts.signal);
      pool.dispatch(
        { method: spec.method, path: t.path, headers: spec.headers, body: spec.body, headersTimeout: opts.firstByteTimeoutMs, bodyTimeout: opts.idleTimeoutMs },
        x,
      );
    });
  }

  /** Waits for in-flight requests, then closes every pool. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    this.targets.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  /** Closes every pool now, aborting in-flight requests. */
  async destroy(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    this.targets.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }
}
