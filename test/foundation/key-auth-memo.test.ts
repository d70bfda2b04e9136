import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyAuthenticator } from '../../src/keys/auth.ts';
import { DIALECTS } from '../helpers/db.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';

/** The app's authenticator with its HMACs counted. */
class CountingAuth extends KeyAuthenticator {
  hmacs = 0;
  protected override digestOf(token: string): string {
    this.hmacs++;
    return super.digestOf(token);
  }
}

const bearer = (key: string) => `Bearer ${key}`;
const madeUp = () => `kx_live_${'Q'.repeat(40)}${Math.random().toString(36).slice(2, 10).padEnd(8, 'x')}`;

describe.each(DIALECTS)('key digests remembered on %s', (dialect) => {
  let t: TestApp;
  let auth: CountingAuth;

  beforeAll(async () => {
    t = await makeTestApp(dialect);
    auth = new CountingAuth(t.c.storage.db, t.c.clock, t.c.config.secrets.keyPepper, 60_000, dialect === 'postgres', t.c.bus);
  });
  afterAll(async () => t?.close());

  const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);

  it('a returning key skips its HMAC; a made-up key is hashed every time and never remembered', async () => {
    const { key, keyId } = await t.createCustomer();
    const before = auth.hmacs;
    for (let i = 0; i < 3; i++) expect((await auth.authenticate(bearer(key))).key.id).toBe(keyId);
    expect(auth.hmacs - before).toBe(1);
    const size = auth.memoSize;
    const fake = madeUp();
    for (let i = 0; i < 2; i++) expect(await codeOf(auth.authenticate(bearer(fake)))).toBe('INVALID_KEY');
    expect(auth.hmacs - before).toBe(3);
    expect(auth.memoSize).toBe(size);
  });

  it('revoking, rotating or disabling acts on a remembered key at once, and the memo forgets it', async () => {
    const { customer, key } = await t.createCustomer();
    const k = await t.createKey(customer.id);
    await auth.authenticate(bearer(k.key));
    await auth.authenticate(bearer(key));
    const size = auth.memoSize;

    expect((await t.admin('POST', `/admin/api/keys/${k.keyId}/revoke`)).status).toBe(200);
    expect(auth.memoSize).toBe(size - 1);
    expect(await codeOf(auth.authenticate(bearer(k.key)))).toBe('INVALID_KEY');
    expect(auth.memoSize).toBe(size - 1);

    const rotated = await t.admin('POST', `/admin/api/keys/${(await auth.authenticate(bearer(key))).key.id}/rotate`);
    expect(rotated.status).toBe(200);
    const next = ((await rotated.json()) as { key: string }).key;
    expect(await codeOf(auth.authenticate(bearer(key)))).toBe('INVALID_KEY');
    expect(await codeOf(auth.authenticate(bearer(next)))).toBe('ok');

    expect((await t.admin('PATCH', `/admin/api/customers/${customer.id}`, { is_active: false })).status).toBe(200);
    expect(await codeOf(auth.authenticate(bearer(next)))).toBe('CUSTOMER_DISABLED');
  });
});
