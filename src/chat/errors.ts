import { AppError } from '../lib/errors.ts';
import type { ProviderError } from '../providers/types.ts';

/** Upstream statuses whose message is about the client's own request (safe and useful to pass on). */
const CLIENT_FAULT = new Set([400, 404, 413, 422]);

/**
 * A normalized upstream failure → the gateway's error envelope.
 * Timeouts waiting for the first byte or between chunks → 504 UPSTREAM_TIMEOUT; everything
 * else (connect timeout, refused connection, HTTP error, malformed body, cut stream) →
 * 502 UPSTREAM_ERROR. Both carry `provider` and `upstream_status`.
 *
 * Vendor messages are passed on only for request-shaped errors (bad parameter, unknown model,
 * context too long). Others are summarized: an upstream 401/403 is about the gateway's own
 * credential, and some vendors echo part of the key in that message.
 * `shownProvider` is the name the response reports (a lane's public name masks the vendor).
 */
export function upstreamAppError(e: ProviderError, shownProvider: string): AppError {
  const masked = shownProvider !== e.provider;
  const who = masked ? 'upstream' : `${e.provider} upstream`;
  const details = { provider: shownProvider, upstream_status: e.status || null };
  switch (e.cause) {
    case 'first_byte':
      return new AppError('UPSTREAM_TIMEOUT', `${who} did not respond in time`, { ...details, timeout: 'first_byte' });
    case 'idle':
      return new AppError('UPSTREAM_TIMEOUT', `${who} stopped sending data`, { ...details, timeout: 'idle' });
    case 'connect':
      return new AppError('UPSTREAM_ERROR', `Could not connect to ${who} (connect timeout)`, { ...details, timeout: 'connect' });
    case 'network':
      return new AppError('UPSTREAM_ERROR', `Could not reach ${who}`, details);
    case 'malformed':
      return new AppError('UPSTREAM_ERROR', `${who} returned a malformed response`, details);
    case 'cut':
      return new AppError('UPSTREAM_ERROR', `${who} stream ended before completion`, details);
    default:
      break;
  }
  if (e.status > 0) {
    const msg = CLIENT_FAULT.has(e.status) && !masked ? `${who} error ${e.status}: ${e.message}` : `${who} error ${e.status}`;
    return new AppError('UPSTREAM_ERROR', msg, e.type ? { ...details, upstream_type: e.type } : details);
  }
  // An error reported inside a 2xx body (stream error event).
  return new AppError('UPSTREAM_ERROR', masked ? 'upstream error' : `${who} error: ${e.message}`, e.type ? { ...details, upstream_type: e.type } : details);
}

/** Vendor finish reasons → OpenAI's set. */
export function openaiFinishReason(reason: string | null | undefined): string {
  switch ((reason ?? '').toLowerCase()) {
    case 'length':
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'content_filter':
    case 'safety':
    case 'recitation':
    case 'blocklist':
    case 'prohibited_content':
    case 'spii':
    case 'refusal':
      return 'content_filter';
    case 'tool_calls':
    case 'tool_use':
    case 'function_call':
      return 'tool_calls';
    default:
      return 'stop';
  }
}

/** A ProviderError thrown out of the attempt loop (expected failures travel as values inside). */
export class UpstreamFailure extends Error {
  constructor(readonly error: ProviderError) {
    super(error.message);
    this.name = 'UpstreamFailure';
  }
}
