import type { ProviderError, UpstreamTarget } from '../types.ts';

/**
 * Error classification shared by every adapter. Transient = worth trying the next lane target:
 * 408 (request timeout), 409 (OpenAI's "lock" conflict, retried by its SDK), 429 rate limits,
 * any 5xx (incl. Anthropic 529 overloaded). Every other 4xx is the request's own fault and would
 * fail the same way elsewhere. A provider's explicit `x-should-retry` header overrides this,
 * as the official SDKs do.
 */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * The retry hint from `retry-after-ms` (milliseconds) or `retry-after` (delta-seconds or an
 * HTTP-date). Header names must be lower-case (undici delivers them so).
 */
export function retryAfterFromHeaders(headers: Record<string, string>, nowMs: number = Date.now()): number | undefined {
  const ms = headers['retry-after-ms'];
  if (ms !== undefined) {
    const v = Number(ms);
    if (Number.isFinite(v) && v >= 0) return Math.ceil(v);
  }
  const ra = headers['retry-after'];
  if (ra === undefined) return undefined;
  const trimmed = ra.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** google.protobuf.Duration in JSON: "37s", "1.5s", "0.250s". */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return m ? Math.ceil(Number(m[1]) * 1000) : undefined;
}

export function shouldRetryOverride(headers: Record<string, string>): boolean | undefined {
  const v = headers['x-should-retry'];
  if (v === 'true') return true;
  if (v === 'false') return false;
  return undefined;
}

const MAX_MESSAGE = 500;

export function clip(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
}

/** JSON.parse that reports failure as undefined (upstream bodies are untrusted). */
export function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A 2xx body that is not the JSON the provider documents. Not retried: the call may have run. */
export function malformed(target: UpstreamTarget, what: string): ProviderError {
  return { provider: target.provider, status: 0, retryable: false, cause: 'malformed', message: `malformed upstream ${what}` };
}

/** The stream ended (EOF) before the provider's terminal event. */
export function cut(target: UpstreamTarget): ProviderError {
  return { provider: target.provider, status: 0, retryable: false, cause: 'cut', message: 'upstream stream ended before completion' };
}

/**
 * Builds the ProviderError for a non-2xx response once the adapter has pulled type/message out
 * of the provider's body. `notTransient` marks 429 variants that mean "quota exhausted", which
 * waiting will not fix.
 */
export function httpError(
  target: UpstreamTarget,
  status: number,
  headers: Record<string, string>,
  parts: { type?: string; message?: string; retryAfterMs?: number; notTransient?: boolean },
): ProviderError {
  let retryable = isRetryableStatus(status) && !parts.notTransient;
  const override = shouldRetryOverride(headers);
  if (override !== undefined && !parts.notTransient) retryable = override;
  const e: ProviderError = {
    provider: target.provider,
    status,
    retryable,
    message: clip(parts.message || `upstream returned HTTP ${status}`),
  };
  const retryAfterMs = parts.retryAfterMs ?? retryAfterFromHeaders(headers);
  if (retryAfterMs !== undefined) e.retryAfterMs = retryAfterMs;
  if (parts.type) e.type = parts.type;
  return e;
}

const TRANSIENT_TYPE = /overload|server_error|rate_limit|timeout|unavailable|internal|api_error|resource_exhausted/i;

/**
 * An error reported inside a 2xx body (a stream's error event/chunk). There is no HTTP status of
 * its own, so status is 0 and transience is judged from the provider's error type.
 */
export function inBodyError(target: UpstreamTarget, type: string | undefined, message: string | undefined, status?: number): ProviderError {
  const retryable = status !== undefined && status > 0 ? isRetryableStatus(status) : type !== undefined && TRANSIENT_TYPE.test(type);
  const e: ProviderError = { provider: target.provider, status: 0, retryable, message: clip(message || 'upstream reported an error') };
  if (type) e.type = type;
  return e;
}

/** `{base}{path}` without doubling the slash between them. */
export function joinUrl(base: string, path: string): string {
  return base.endsWith('/') ? base.slice(0, -1) + path : base + path;
}
