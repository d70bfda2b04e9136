import { describe, expect, it } from 'vitest';
import { createContainer, type Container } from '../../src/app/container.ts';
import { testConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { DIALECTS } from '../helpers/db.ts';
import { fakeEnv, useChatApp, userMsg, type ChatTestApp, type Fakes } from './harness.ts';

type LaneView = { id: string; provider: string; model: string; targets: { provider: string; model: string }[]; report_public: boolean; display_provider: string | null; is_active: boolean };

describe.each(DIALECTS)('lanes and model routing on %s', (dialect) => {
  let f: Fakes;
  let t: ChatTestApp;
  const auth = () => ({ authorization: `Bearer ${t.key}` });

  useChatApp(dialect, { INVALIDATION_POLL_MS: '20' }, (ff, tt) => {
    f = ff;
    t = tt;
  });

  it('the migration seeds kaixu/kaixu-chat → openai gpt-4o-mini, then anthropic', async () => {
    const res = await t.admin('GET', '/admin/api/lanes');
    const { lanes } = (await res.json()) as { lanes: LaneView[] };
    expect(lanes).toEqual([
      expect.objectContaining({
        provider: 'kaixu',
        model: 'kaixu-chat',
        report_public: true,
        display_provider: 'kAIxu',
        is_active: true,
        targets: [
          { provider: 'openai', model: 'gpt-4o-mini' },
          { provider: 'anthropic', model: 'claude-3-5-haiku-latest' },
        ],
      }),
    ]);
  });

  it('CRUD with validation, conflicts and audit; changes apply to the next call', async () => {
    expect((await t.admin('POST', '/admin/api/lanes', { provider: 'Bad Name', model: 'm', targets: [{ provider: 'openai', model: 'gpt-4o' }] })).status).toBe(400);
    expect((await t.admin('POST', '/admin/api/lanes', { provider: 'acme', model: 'm', targets: [] })).status).toBe(400);
    const unknown = await t.admin('POST', '/admin/api/lanes', { provider: 'acme', model: 'm', targets: [{ provider: 'nowhere', model: 'x' }] });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ error: { code: 'VALIDATION_ERROR', message: expect.stringContaining('nowhere') } });
    expect((await t.admin('POST', '/admin/api/lanes', { provider: 'acme', model: 'm', targets: [{ provider: 'openai', model: 'gpt-4o' }], x: 1 })).status).toBe(400);
    expect(await t.c.storage.db.selectFrom('lanes').select('id').execute()).toHaveLength(1);

    const created = await t.admin('POST', '/admin/api/lanes', { provider: 'acme', model: 'acme-chat', targets: [{ provider: 'openai', model: 'gpt-4o' }] });
    expect(created.status).toBe(201);
    const lane = ((await created.json()) as { lane: LaneView }).lane;
    expect(lane.id).toMatch(/^lane_/);
    expect((await t.admin('POST', '/admin/api/lanes', { provider: 'acme', model: 'acme-chat', targets: [{ provider: 'openai', model: 'gpt-4o' }] })).status).toBe(409);

    const call = () => t.req('POST', '/api/gateway-chat', { body: { provider: 'ACME', model: 'acme-chat', messages: userMsg() }, headers: auth() });
    let res = await call();
    expect(await res.json()).toMatchObject({ provider: 'openai', model: 'gpt-4o', requested_provider: 'acme', requested_model: 'acme-chat' });

    expect((await t.admin('PATCH', `/admin/api/lanes/${lane.id}`, { targets: [{ provider: 'anthropic', model: 'claude-3-5-haiku-latest' }], report_public: true })).status).toBe(200);
    res = await call();
    expect(await res.json()).toMatchObject({ provider: 'acme', model: 'acme-chat' });
    expect(f.anthropic.requests).toHaveLength(1);

    expect((await t.admin('PATCH', `/admin/api/lanes/${lane.id}`, { is_active: false })).status).toBe(200);
    res = await call();
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'UNKNOWN_PROVIDER' });

    expect((await t.admin('PATCH', `/admin/api/lanes/${lane.id}`, {})).status).toBe(400);
    expect((await t.admin('PATCH', '/admin/api/lanes/lane_missing', { is_active: true })).status).toBe(404);
    expect((await t.admin('DELETE', `/admin/api/lanes/${lane.id}`)).status).toBe(200);
    expect((await t.admin('GET', `/admin/api/lanes/${lane.id}`)).status).toBe(404);
    const actions = (await t.c.storage.db.selectFrom('audit_events').select('action').where('target', '=', `lane:${lane.id}`).orderBy('id').execute()).map((r) => r.action);
    expect(actions).toEqual(['LANE_CREATE', 'LANE_UPDATE', 'LANE_UPDATE', 'LANE_DELETE']);
  });

  it('another gateway process on the same database sees lane changes (invalidation bus)', async () => {
    const other: Container = await createContainer(testConfig({ ...fakeEnv(f), INVALIDATION_POLL_MS: '20' }), {
      storage: t.c.storage,
      skipMigrations: true,
      logger: createLogger({ level: 'silent' }),
    });
    await other.start();
    try {
      const created = await t.admin('POST', '/admin/api/lanes', { provider: 'shared', model: 'm1', targets: [{ provider: 'openai', model: 'gpt-4o' }] });
      const id = ((await created.json()) as { lane: LaneView }).lane.id;
      const targetsSeen = async () => (await other.laneRouter.resolve('shared', 'm1')).targets[0]!.model;
      await expect.poll(targetsSeen, { timeout: 3_000 }).toBe('gpt-4o');
      await t.admin('PATCH', `/admin/api/lanes/${id}`, { targets: [{ provider: 'openai', model: 'gpt-4o-mini' }] });
      await expect.poll(targetsSeen, { timeout: 3_000 }).toBe('gpt-4o-mini');
      await t.admin('DELETE', `/admin/api/lanes/${id}`);
    } finally {
      await other.close();
    }
  });

  it.each([
    ['kaixu-chat', { provider: 'kaixu', model: 'kaixu-chat' }, 'openai', 'gpt-4o-mini'],
    ['kaixu/kaixu-chat', { provider: 'kaixu', model: 'kaixu-chat' }, 'openai', 'gpt-4o-mini'],
    ['openai/gpt-4o', { provider: 'openai', model: 'gpt-4o' }, 'openai', 'gpt-4o'],
    ['gpt-4o-mini', { provider: 'openai', model: 'gpt-4o-mini' }, 'openai', 'gpt-4o-mini'],
    ['o4-mini', { provider: 'openai', model: 'o4-mini' }, 'openai', 'o4-mini'],
    ['claude-3-5-haiku-latest', { provider: 'anthropic', model: 'claude-3-5-haiku-latest' }, 'anthropic', 'claude-3-5-haiku-latest'],
    ['gemini-2.5-flash', { provider: 'gemini', model: 'gemini-2.5-flash' }, 'gemini', 'gemini-2.5-flash'],
    ['anthropic/claude-3-5-haiku-latest', { provider: 'anthropic', model: 'claude-3-5-haiku-latest' }, 'anthropic', 'claude-3-5-haiku-latest'],
  ])('/v1 model %s resolves to its route', async (name, requested, provider, model) => {
    const route = await t.c.laneRouter.resolveModelName(name);
    expect(route.requested).toEqual(requested);
    expect(route.targets[0]).toEqual({ provider, model });
  });

  it('/v1 model ids with slashes after the provider keep them (OpenRouter style)', async () => {
    await t.admin('POST', '/admin/api/upstreams', { name: 'openrouter', base_url: 'http://127.0.0.1:9/api/v1' });
    const route = await t.c.laneRouter.resolveModelName('openrouter/meta-llama/llama-3-8b');
    expect(route.targets).toEqual([{ provider: 'openrouter', model: 'meta-llama/llama-3-8b' }]);
    await expect(t.c.laneRouter.resolveModelName('meta-llama/llama-3-8b')).rejects.toMatchObject({ code: 'UNKNOWN_MODEL' });
    await t.admin('DELETE', '/admin/api/upstreams/openrouter');
  });

  describe('GET /v1/models', () => {
    const ids = async (key: string) => {
      const res = await t.req('GET', '/v1/models', { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(200);
      const j = (await res.json()) as { object: string; data: { id: string; object: string; created: number; owned_by: string }[] };
      expect(j.object).toBe('list');
      for (const m of j.data) expect(m).toEqual({ id: expect.any(String), object: 'model', created: expect.any(Number), owned_by: expect.any(String) });
      return j.data.map((m) => m.id);
    };

    it('lists lanes and priced vendor models of configured upstreams', async () => {
      const all = await ids(t.key);
      expect(all[0]).toBe('kaixu-chat');
      expect(all).toEqual(expect.arrayContaining(['openai/gpt-4o-mini', 'anthropic/claude-3-5-haiku-latest', 'gemini/gemini-2.5-flash']));
      // Every listed id is callable as-is.
      for (const id of ['kaixu-chat', 'anthropic/claude-3-5-haiku-latest']) {
        const res = await t.req('POST', '/v1/chat/completions', { body: { model: id, messages: userMsg() }, headers: auth() });
        expect(res.status, id).toBe(200);
      }
    });

    it('follows the key allowlist', async () => {
      const onlyOpenai = await t.createKey(t.customerId, { allowed_providers: ['openai'] });
      const list = await ids(onlyOpenai.key);
      expect(list.length).toBeGreaterThan(0);
      expect(list.every((id) => id.startsWith('openai/'))).toBe(true);

      const narrow = await t.createKey(t.customerId, { allowed_models: { kaixu: ['kaixu-chat'], openai: ['gpt-4o-mini'], anthropic: ['claude-3-5-haiku-latest'] } });
      expect((await ids(narrow.key)).sort()).toEqual(['anthropic/claude-3-5-haiku-latest', 'kaixu-chat', 'openai/gpt-4o-mini']);
      // A refused model is refused by admission too (the list does not promise more than calls allow).
      const res = await t.req('POST', '/v1/chat/completions', { body: { model: 'gpt-4o', messages: userMsg() }, headers: { authorization: `Bearer ${narrow.key}` } });
      expect(res.status).toBe(403);
    });
  });
});
