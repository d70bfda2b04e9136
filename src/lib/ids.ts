import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for ids, drawn from a pool refilled 4 KiB at a time: one CSPRNG call serves
 * hundreds of ids instead of one call (and one small Buffer) per id on the request path. The
 * bytes are as unpredictable as randomBytes' own, so ids stay unique across processes and
 * unguessable.
 */
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

function random(bytes: number, encoding: 'hex' | 'base64url'): string {
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const s = pool.toString(encoding, offset, offset + bytes);
  offset += bytes;
  return s;
}

/** Type-prefixed, sortable-ish ids: `<prefix>_<time36><random>`. */
export function newId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${random(8, 'hex')}`;
}

export const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{8,128}$/;
export const newRequestId = (): string => `req_${random(12, 'hex')}`;

/** OpenAI-style completion id (`chatcmpl-…`), 96 random bits. */
export const newCompletionId = (): string => `chatcmpl-${random(12, 'base64url')}`;
