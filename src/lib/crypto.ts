import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';

export const hmacHex = (secret: string | KeyObject, value: string): string => createHmac('sha256', secret).update(value).digest('hex');
/** A secret prepared once for repeated HMACs (a string key is converted on every createHmac). */
export const hmacKey = (secret: string): KeyObject => createSecretKey(Buffer.from(secret, 'utf8'));
export const sha256Hex = (value: string | Buffer): string => createHash('sha256').update(value).digest('hex');

/** Constant-time string compare (hashes both sides so length differences leak nothing). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/**
 * AES-256-GCM with a versioned envelope `v1:<iv>:<tag>:<ciphertext>` (base64url parts).
 * The key is derived from ENCRYPTION_KEY with SHA-256 so any strong string works.
 */
export class SecretBox {
  private readonly key: Buffer;
  constructor(material: string) {
    this.key = createHash('sha256').update(`kaixu-secretbox-v1:${material}`).digest();
  }
  seal(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return ['v1', iv.toString('base64url'), c.getAuthTag().toString('base64url'), body.toString('base64url')].join(':');
  }
  open(sealed: string): string {
    const [v, iv, tag, body] = sealed.split(':');
    if (v !== 'v1' || !iv || !tag || body === undefined) throw new Error('Unsupported secret envelope');
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
  }
}
