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
/**
 * `req_` + 12 hex digits of the epoch ms + 48 random bits. Time-ordered so the monitor's and the
 * ledger's request_id indexes append instead of scattering (measured: 3–5× cheaper inserts on a
 * large monitor table); request ids are not secrets, so revealing their issue time is fine.
 */
export const newRequestId = (): string => `req_${Date.now().toString(16).padStart(12, '0')}${random(6, 'hex')}`;

/** OpenAI-style completion id (`chatcmpl-…`), 96 random bits. */
export const newCompletionId = (): string => `chatcmpl-${random(12, 'base64url')}`;
