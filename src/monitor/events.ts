import { clip, clipJson, LIMITS } from './sanitize.ts';
import type { Kind, Level, NewMonitorEvent, ObservedRequest } from './types.ts';

/** Requests slower than this are flagged `extra.slow` (as the original did). */
export const SLOW_MS = 15_000;

export function levelOf(status: number, thrown: boolean): Level {
  if (thrown || status >= 500) return 'error';
  return status >= 400 ? 'warn' : 'info';
}

export function kindOf(status: number, thrown: boolean): Kind {
  if (thrown) return 'thrown_error';
  return status >= 400 ? 'http_error_response' : 'http_response';
}

/** One monitor row for a finished request. Cheap: no I/O, a handful of string clips. */
export function eventFromRequest(r: ObservedRequest, now: number): NewMonitorEvent {
  const { info } = r;
  // A stream that failed after its 200 headers is an error response all the same (the client got
  // an error frame): level and kind follow the status the failure maps to; `status` stays 200.
  const effective = info.streamErrorStatus ?? r.status;
  const isError = effective >= 400 || r.thrown;
  return {
    created_at: now,
    request_id: r.requestId,
    level: levelOf(effective, r.thrown),
    kind: kindOf(effective, r.thrown),
    operation: info.operation ?? null,
    method: r.method,
    path: clip(r.path, LIMITS.path),
    status: r.status,
    duration_ms: Math.round(r.durationMs),
    app: clip(r.app, LIMITS.short),
    build: clip(r.build, LIMITS.short),
    customer_id: r.auth?.customer.id ?? null,
    api_key_id: r.auth?.key.id ?? null,
    provider: clip(info.provider, LIMITS.short),
    model: clip(info.model, LIMITS.short),
    upstream_status: info.upstreamStatus ?? null,
    error_code: isError ? clip(info.errorCode, LIMITS.short) : null,
    error_message: isError ? clip(info.errorMessage, LIMITS.message) : null,
    body_preview: isError ? clip(r.bodyPreview, LIMITS.preview) : null,
    ip: clip(r.ip, LIMITS.short),
    user_agent: clip(r.userAgent, LIMITS.userAgent),
    extra: r.durationMs >= SLOW_MS ? '{"slow":true}' : null,
  };
}

/** A browser error report (seed client-error-report), normalised by the route. */
export interface ClientErrorInput {
  requestId: string;
  url?: string;
  name?: string;
  message?: string;
  stack?: string;
  app?: string;
  build?: string;
  userAgent?: string;
  ip: string;
  /** client, context and raw blocks, kept as JSON for the detail view. */
  extra: Record<string, unknown>;
}

export function clientErrorEvent(x: ClientErrorInput, now: number): NewMonitorEvent {
  return {
    created_at: now,
    request_id: x.requestId,
    level: 'error',
    kind: 'client_error',
    operation: 'seed.client_error_report',
    method: null,
    path: clip(x.url, LIMITS.path),
    status: null,
    duration_ms: null,
    app: clip(x.app, LIMITS.short),
    build: clip(x.build, LIMITS.short),
    customer_id: null,
    api_key_id: null,
    provider: null,
    model: null,
    upstream_status: null,
    error_code: clip(x.name, LIMITS.short),
    error_message: clip(x.message, LIMITS.message),
    body_preview: clip(x.stack, LIMITS.preview),
    ip: clip(x.ip, LIMITS.short),
    user_agent: clip(x.userAgent, LIMITS.userAgent),
    extra: clipJson(x.extra, 60_000),
  };
}
