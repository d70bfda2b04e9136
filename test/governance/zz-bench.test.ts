import { describe, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { makeGovApp, ONE_CENT_CALL, TARGET } from './helpers.ts';

describe.each(DIALECTS)('bench %s', (dialect) => {
  it('admit+settle', async () => {
    const t = await makeGovApp(dialect);
    const { key } = await t.createCustomer({ monthly_cap_cents: 1_000_000, rpm_limit: 0, max_devices_per_key: 5 });
    const auth = await t.auth(key);
    const one = async () => {
      const a = await t.c.governance.admit(t.ctx(auth, { installId: 'dev' }), ONE_CENT_CALL);
      await a.settle({ target: TARGET, usage: { input_tokens: 10, output_tokens: 10 }, usageSource: 'provider', status: 'ok', latencyMs: 1 });
    };
    for (let i = 0; i < 200; i++) await one();
    const n = 2000;
    let t0 = performance.now();
    for (let i = 0; i < n; i++) await one();
    const seq = (performance.now() - t0) / n;
    t0 = performance.now();
    await Promise.all(Array.from({ length: n }, one));
    const conc = (performance.now() - t0) / n;
    console.log(`${dialect}: sequential ${(seq * 1000).toFixed(0)} µs/call, concurrent ${(conc * 1000).toFixed(0)} µs/call`);
    await t.close();
  }, 120_000);
});
