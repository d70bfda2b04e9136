import { it } from 'vitest';
import { makeGovApp, ONE_CENT_CALL, TARGET } from './helpers.ts';

it('profile sqlite', async () => {
  const t = await makeGovApp('sqlite');
  const { key } = await t.createCustomer({ monthly_cap_cents: 1_000_000, rpm_limit: 0, max_devices_per_key: 5 });
  const auth = await t.auth(key);
  const caps = t.c.gov.caps;
  const n = 3000;
  let admitT = 0, settleT = 0, reserveT = 0;
  for (let i = 0; i < n + 200; i++) {
    const t0 = performance.now();
    const a = await t.c.governance.admit(t.ctx(auth, { installId: 'dev' }), ONE_CENT_CALL);
    const t1 = performance.now();
    await a.settle({ target: TARGET, usage: { input_tokens: 10, output_tokens: 10 }, usageSource: 'provider', status: 'ok', latencyMs: 1 });
    const t2 = performance.now();
    const r0 = performance.now();
    await caps.reserve({ id: 'x' + i, customerId: auth.customer.id, keyId: auth.key.id, month: '2026-01', amount: 1, installId: null, requestId: 'r', now: 1, expiresAt: 2 });
    await caps.release('x' + i);
    const r1 = performance.now();
    if (i >= 200) { admitT += t1 - t0; settleT += t2 - t1; reserveT += r1 - r0; }
  }
  console.log(`admit ${(admitT / n * 1000).toFixed(0)}µs settle ${(settleT / n * 1000).toFixed(0)}µs raw reserve+release ${(reserveT / n * 1000).toFixed(0)}µs`);
  await t.close();
}, 120_000);
