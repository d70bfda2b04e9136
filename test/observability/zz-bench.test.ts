import { it } from 'vitest';
import { makeTestApp } from '../helpers/app.ts';
import { pool } from './util.ts';
it('bench', async () => {
  const t = await makeTestApp('sqlite');
  const { key } = await t.createCustomer();
  const all = [...t.c.observers];
  const run = async (label: string, obs: typeof all) => {
    t.c.observers.splice(0, t.c.observers.length, ...obs);
    const N = 20000;
    const t0 = performance.now();
    await pool(N, 16, () => t.req('GET', '/api/push-whoami', { headers: { authorization: `Bearer ${key}` } }));
    await t.c.monitor.writer.flush();
    const ms = performance.now() - t0;
    console.log(label, Math.round(N / (ms / 1000)), 'req/s');
  };
  for (let i = 0; i < 2; i++) {
    await run('none   ', []);
    await run('monitor', [all[0]!]);
    await run('metrics', [all[1]!]);
    await run('log    ', [all[2]!]);
    await run('all    ', all);
  }
  const t1 = performance.now();
  for (let i = 0; i < 2000; i++) t.c.monitor.writer.record({ created_at: 1, level: 'info', kind: 'http_response', request_id: 'x'.repeat(28), operation: 'user.whoami', method: 'GET', path: '/api/push-whoami', status: 200, duration_ms: 1, app: null, build: null, customer_id: 'cus_x', api_key_id: 'key_x', provider: null, model: null, upstream_status: null, error_code: null, error_message: null, body_preview: null, ip: '127.0.0.1', user_agent: null, extra: null });
  const t2 = performance.now();
  await t.c.monitor.writer.flush();
  console.log('flush 2000 rows ms', (performance.now() - t2).toFixed(1), 'record ms', (t2 - t1).toFixed(1));
  await t.close();
}, 120000);
