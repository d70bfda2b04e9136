import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ZodError } from 'zod';
import { AppError, isAppError } from '../lib/errors.ts';
import type { AppEnv, Surface } from './context.ts';

/** OpenAI error `type` for a status (the SDK reads `error.type`/`error.code`). */
function openaiType(status: number): string {
  if (status === 400 || status === 413 || status === 409) return 'invalid_request_error';
  if (status === 401) return 'authentication_error';
  if (status === 402) return 'insufficient_quota';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  return 'api_error';
}

/**
 * One envelope, three surfaces:
 * - admin/user API: `{ error: { code, message, request_id, …details } }`
 * - OpenAI-compatible /v1: `{ error: { message, type, code, param, request_id, … } }`
 * - seed functions: the original flat body `{ error: "<message>", code, request_id, …details }`
 */
export function errorBody(e: AppError, surface: Surface, requestId: string): Record<string, unknown> {
  if (surface === 'seed') return { error: e.message, code: e.code, ...e.details, request_id: requestId };
  if (surface === 'openai') {
    return { error: { message: e.message, type: openaiType(e.status), code: e.code, param: (e.details.param as string) ?? null, ...e.details, request_id: requestId } };
  }
  return { error: { code: e.code, message: e.message, ...e.details, request_id: requestId } };
}

export function renderError(c: Context<AppEnv>, e: AppError): Response {
  const info = c.get('info');
  if (info) {
    info.errorCode = e.code;
    info.errorMessage = e.message;
  }
  for (const [k, v] of Object.entries(e.headers)) c.header(k, v);
  return c.json(errorBody(e, c.get('surface') ?? 'admin', c.get('requestId') ?? ''), e.status as 400);
}

export function validationError(err: ZodError, target: string): AppError {
  const fields = err.issues.map((i) => ({ path: [target, ...i.path.map(String)].join('.'), message: i.message, code: i.code }));
  const first = fields[0];
  return new AppError('VALIDATION_ERROR', first ? `Invalid ${first.path}: ${first.message}` : 'Invalid request', { fields });
}

/** Map anything thrown to an AppError; unknown errors become a generic 500 with no internals. */
export function toAppError(e: unknown): AppError {
  if (isAppError(e)) return e;
  if (e instanceof HTTPException) {
    if (e.status === 413) return new AppError('PAYLOAD_TOO_LARGE', 'Request body too large');
    if (e.status === 400) return new AppError('INVALID_JSON', 'Invalid JSON');
    if (e.status === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported content type');
    if (e.status === 404) return new AppError('NOT_FOUND', 'Not found');
    if (e.status === 401) return new AppError('UNAUTHORIZED', 'Unauthorized');
  }
  if (e instanceof SyntaxError) return new AppError('INVALID_JSON', 'Invalid JSON');
  return new AppError('INTERNAL', 'Internal server error');
}
