/**
 * The closed set of error codes the gateway returns, and their HTTP statuses.
 * Domain code throws or returns AppError; the HTTP edge renders it in one envelope.
 * docs/errors.md documents every code (a test keeps the two in step).
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  INVALID_JSON: 400,
  VALIDATION_ERROR: 400,
  MISSING_INSTALL_ID: 400,
  UNKNOWN_PROVIDER: 400,
  UNKNOWN_MODEL: 400,
  UNAUTHORIZED: 401,
  MISSING_KEY: 401,
  INVALID_KEY: 401,
  INVALID_CREDENTIALS: 401,
  CAP_REACHED: 402,
  FORBIDDEN: 403,
  CUSTOMER_DISABLED: 403,
  PROVIDER_NOT_ALLOWED: 403,
  MODEL_NOT_ALLOWED: 403,
  DEVICE_REVOKED: 403,
  DEVICE_LIMIT: 403,
  ROLE_REQUIRED: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  EMAIL_TAKEN: 409,
  UNPRICED_MODEL: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  LOGIN_THROTTLED: 429,
  CLIENT_CLOSED: 499,
  INTERNAL: 500,
  NOT_CONFIGURED: 501,
  UPSTREAM_ERROR: 502,
  SERVICE_UNAVAILABLE: 503,
  UPSTREAM_TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra fields merged into the error body (scope, month, ratelimit, fields, provider…). */
    readonly details: Record<string, unknown> = {},
    /** Response headers to add (Retry-After…). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.status = ERROR_STATUS[code];
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

export type Result<T, E = AppError> = { ok: true; value: T } | { ok: false; error: E };
export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });
