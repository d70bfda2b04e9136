import { type KeyObject, randomBytes } from 'node:crypto';
import { hmacHex } from '../lib/crypto.ts';

export const KEY_PREFIX = 'kx_live_';
/** kx_live_ + 48 base64url characters (36 random bytes encode to exactly 48). */
export const KEY_RE = /^kx_live_[A-Za-z0-9_-]{48}$/;

export interface MintedKey {
  key: string;
  hash: string;
  last4: string;
}

export function mintKey(pepper: string): MintedKey {
  const key = KEY_PREFIX + randomBytes(36).toString('base64url');
  return { key, hash: hashKey(pepper, key), last4: key.slice(-4) };
}

export const hashKey = (pepper: string | KeyObject, key: string): string => hmacHex(pepper, key);

export const ROLES = ['viewer', 'deployer', 'admin', 'owner'] as const;
export type Role = (typeof ROLES)[number];
export const roleAtLeast = (have: string, need: Role): boolean => ROLES.indexOf(have as Role) >= ROLES.indexOf(need);
