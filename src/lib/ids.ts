import { randomBytes } from 'node:crypto';

/** Type-prefixed, sortable-ish ids: `<prefix>_<time36><random>`. */
export function newId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${randomBytes(8).toString('hex')}`;
}

export const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{8,128}$/;
export const newRequestId = (): string => `req_${randomBytes(12).toString('hex')}`;
