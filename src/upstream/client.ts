import { Pool, type Dispatcher } from 'undici';
import type { HttpRequestSpec, ProviderError } from '../providers/types.ts';
import type { UpstreamSignal } from './abort.ts';

/**
 * The one place the data plane does upstream HTTP. One keep-alive undici Pool per origin (and
 * connect timeout), HTTP/1.1 without pipelining (one request per connection at a time, so
 * aborting a request can destroy its socket without hurting others).
 *
 * Timeouts map onto undici's own timers: connect → `connect.timeout` (TCP + TLS handshake),
 * first byte → `headersTimeout` (request sent → response headers complete), idle →
 * `bodyTimeout` (gap between body chunks). The caller's signal (an AbortSignal or the cheaper
 * CallAbort) is handed to undici, which
 * destroys the socket of an in-flight HTTP/1.1 request at once — that is how a client
 * disconnect stops the upstream generation.
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

function flattenHeaders(h: Dispatcher.ResponseData['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

type Readable = Dispatcher.ResponseData['body'];

/** A response body with transport failures mapped to UpstreamError (a class: no per-call closures). */
class Body implements UpstreamBody {
  constructor(
    private readonly res: Readable,
    private readonly provider: string,
    private readonly signal: UpstreamSignal,
  ) {}

  private fail(e: unknown): never {
    throw new UpstreamError(classifyTransportError(e, this.provider, this.signal));
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    const it = this.res[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
    return {
      next: () => it.next().catch((e: unknown) => this.fail(e)),
      return: async () => {
        this.cancel();
        return { done: true, value: undefined };
      },
    };
  }

  cancel(): void {
    if (!this.res.destroyed) this.res.destroy();
  }

  text(): Promise<string> {
    return this.res.text().catch((e: unknown) => this.fail(e));
  }
}

interface Target {
  origin: string;
  path: string;
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
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pool(t.origin, opts.connectTimeoutMs).request({
        method: spec.method,
        path: t.path,
        headers: spec.headers,
        body: spec.body,
        signal: opts.signal,
        headersTimeout: opts.firstByteTimeoutMs,
        bodyTimeout: opts.idleTimeoutMs,
      });
    } catch (e) {
      throw new UpstreamError(classifyTransportError(e, provider, opts.signal));
    }
    return { status: res.statusCode, headers: flattenHeaders(res.headers), body: new Body(res.body, provider, opts.signal) };
  }

  /** Waits for in-flight requests, then closes every pool. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  /** Closes every pool now, aborting in-flight requests. */
  async destroy(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }
}
