import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/db.ts';
import { makeGovApp, ONE_CENT_CALL, TARGET, type GovApp } from './helpers.ts';

const settleTokens = (n: number) => ({ target: TARGET, usage: { input_tokens: n, output_tokens: 0 }, usageSource: 'provider' as const, status: 'ok' as const, latencyMs: 1 });

describe.each(DIALECTS)('cap warnings on %s', (dialect) => {
  let t: GovApp;
  let server: Server;
  const received: Record<string, unknown>[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    t = await makeGovApp(dialect, { CAP_WARN_PCT: '85', ALERT_WEBHOOK_URL: `http://127.0.0.1:${port}/hook` });
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((r) => server.close(r));
  });

  it('warns once at 85 % and once at 100 % per month and scope: audit event + webhook POST', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 10 });
    const sub = await t.createKey(customer.id, { monthly_cap_cents: 2 });
    const auth = await t.auth(key);
    const spend = async (a = auth, micros = 10_000) =>
      (await t.c.governance.admit(t.ctx(a), { targets: [TARGET], inputTokensUpperBound: micros, maxOutputTokens: 0 })).settle(settleTokens(micros));
    for (let i = 0; i < 8; i++) await spend(); // 80 %
    await t.c.gov.alerts.flush();
    expect(received.filter((r) => r.customer_id === customer.id)).toHaveLength(0);
    await spend(); // 90 %
    await spend(auth, 5_000); // 95 %: no second warning
    await t.c.gov.alerts.flush();
    const mine = () => received.filter((r) => r.customer_id === customer.id);
    expect(mine()).toEqual([{ type: 'CAP_WARN_CUSTOMER', month: '2026-01', customer_id: customer.id, customer_cap_cents: 10, customer_spent_cents: 9, pct: 90 }]);
    await spend(auth, 5_000); // 100 %
    await t.c.gov.alerts.flush();
    expect(mine().map((r) => r.type)).toEqual(['CAP_WARN_CUSTOMER', 'CAP_REACHED_CUSTOMER']);
    // The key with its own 2 ¢ cap: refused → CAP_REACHED_KEY (with the warning) once.
    await t.c.storage.db.updateTable('customers').set({ monthly_cap_cents: 1000 }).where('id', '=', customer.id).execute();
    const sa = await t.auth(sub.key);
    await spend(sa, 10_000);
    await t.c.governance.admit(t.ctx(sa), ONE_CENT_CALL).then(
      (a) => a.release(),
      () => undefined,
    );
    await spend(sa, 10_000).catch(() => undefined);
    await t.c.governance.admit(t.ctx(sa), ONE_CENT_CALL).catch(() => undefined);
    await t.c.gov.alerts.flush();
    const keyAlerts = mine().filter((r) => r.api_key_id === sub.keyId);
    expect(keyAlerts.map((r) => r.type).sort()).toEqual(['CAP_REACHED_KEY', 'CAP_WARN_KEY']);
    expect(keyAlerts[0]).toMatchObject({ key_cap_cents: 2 });
    const audit = await t.c.audit.list({ customerId: customer.id, limit: 50 });
    expect(audit.events.filter((e) => e.action.startsWith('CAP_')).map((e) => e.action).sort()).toEqual([
      'CAP_REACHED_CUSTOMER',
      'CAP_REACHED_KEY',
      'CAP_WARN_CUSTOMER',
      'CAP_WARN_KEY',
    ]);
  });

  it('once per month across nodes: a second process (fresh memory) does not resend', async () => {
    const { customer, key } = await t.createCustomer({ monthly_cap_cents: 1 });
    await (await t.c.governance.admit(t.ctx(await t.auth(key)), ONE_CENT_CALL)).settle(settleTokens(10_000));
    await t.c.gov.alerts.flush();
    const before = received.filter((r) => r.customer_id === customer.id).length;
    expect(before).toBe(2);
    // Same database, alert memory forgotten (as on another node): the alerts_sent key holds.
    (t.c.gov.alerts as unknown as { seen: Set<string> }).seen.clear();
    await t.c.governance.admit(t.ctx(await t.auth(key)), ONE_CENT_CALL).catch(() => undefined);
    await t.c.gov.alerts.flush();
    expect(received.filter((r) => r.customer_id === customer.id)).toHaveLength(before);
  });
});
