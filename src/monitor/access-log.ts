import type { Logger } from '../lib/logger.ts';
import { clip, LIMITS } from './sanitize.ts';
import type { ObservedRequest } from './types.ts';

/**
 * One structured access-log line per request: debug for successes, info for ≥ 400 (and for a
 * stream that failed after its 200 headers, logged with `stream_error_status`).
 * Free-text fields are scrubbed of key material here because pino's redaction works on
 * field names, not on values (a key pasted into a header or path would otherwise be logged).
 */
export function accessLogObserver(log: Logger): (r: ObservedRequest) => void {
  return (r) => {
    const level = r.status >= 400 || r.thrown || r.info.streamErrorStatus !== undefined ? 'info' : 'debug';
    if (!log.isLevelEnabled(level)) return;
    log[level](
      {
        request_id: r.requestId,
        method: r.method,
        path: clip(r.path, LIMITS.path),
        status: r.status,
        duration_ms: Math.round(r.durationMs * 1000) / 1000,
        overhead_ms: Math.round(r.overheadMs * 1000) / 1000,
        operation: r.info.operation,
        lane: r.info.lane,
        customer_id: r.auth?.customer.id,
        key_id: r.auth?.key.id,
        provider: r.info.provider,
        model: r.info.model,
        upstream_status: r.info.upstreamStatus,
        stream_error_status: r.info.streamErrorStatus,
        error_code: r.info.errorCode,
        error_message: clip(r.info.errorMessage, LIMITS.message) ?? undefined,
        app: clip(r.app, LIMITS.short) ?? undefined,
        ip: r.ip,
        ua: clip(r.userAgent, LIMITS.userAgent) ?? undefined,
      },
      'request',
    );
  };
}
