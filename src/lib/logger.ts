import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

const KEY_RE = /kx_live_[A-Za-z0-9_-]{4,}/g;
const BEARER_RE = /(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;

/** Remove key material and bearer tokens from free text. */
export function scrub(s: string): string {
  return s.replace(KEY_RE, 'kx_live_[REDACTED]').replace(BEARER_RE, '$1[REDACTED]');
}

/**
 * Structured JSON logs. Known secret fields are redacted by path, free-text messages are
 * scrubbed of key material, and errors are logged without stacks.
 */
export function createLogger(opts: { level: string; secrets?: string[]; destination?: DestinationStream }): Logger {
  const secrets = (opts.secrets ?? []).filter((s) => s.length >= 8);
  const clean = (s: string) => {
    let out = scrub(s);
    for (const sec of secrets) if (out.includes(sec)) out = out.split(sec).join('[REDACTED]');
    return out;
  };
  return pino(
    {
      level: opts.level,
      base: undefined,
      redact: {
        paths: [
          'authorization',
          'password',
          'token',
          'key',
          'secret',
          '*.authorization',
          '*.password',
          '*.token',
          '*.key',
          '*.secret',
          'headers.authorization',
          'headers["x-admin-password"]',
          'headers["x-api-key"]',
          'headers["x-goog-api-key"]',
          'req.headers.authorization',
        ],
        censor: '[REDACTED]',
      },
      serializers: {
        err: (e: unknown) => {
          const x = e as { name?: string; message?: string; code?: string };
          return { type: x?.name, message: clean(String(x?.message ?? e)), code: x?.code };
        },
      },
      hooks: {
        logMethod(args, method) {
          for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = clean(args[i] as string);
          return method.apply(this, args as Parameters<typeof method>);
        },
      },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
