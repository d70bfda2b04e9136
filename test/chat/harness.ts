import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startServer, type RunningServer } from '../../src/app/server.ts';
import { testConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/lib/logger.ts';
import type { Dialect } from '../../src/storage/db.ts';
import { startFakeAnthropic, startFakeGemini, startFakeOpenAI, type FakeUpstream } from '../fakes/index.ts';
import { makeTestApp, type TestApp } from '../helpers/app.ts';
import { makeTestDb, type TestDb } from '../helpers/db.ts';

export interface Fakes {
  openai: FakeUpstream;
  anthropic: FakeUpstream;
  gemini: FakeUpstream;
  reset(): void;
  close(): Promise<void>;
}

export const PROVIDERS = ['openai', 'anthropic', 'gemini'] as const;
export type Provider = (typeof PROVIDERS)[number];
export const MODELS: Record<Provider, string> = { openai: 'gpt-4o-mini', anthropic: 'claude-3-5-haiku-latest', gemini: 'gemini-2.5-flash' };

export async function startFakes(): Promise<Fakes> {
  const [openai, anthropic, gemini] = await Promise.all([startFakeOpenAI(), startFakeAnthropic(), startFakeGemini()]);
  return {
    openai,
    anthropic,
    gemini,
    reset() {
      for (const f of [openai, anthropic, gemini]) f.reset();
    },
    close: async () => {
      await Promise.all([openai.close(), anthropic.close(), gemini.close()]);
    },
  };
}

/** Env that points the three built-in providers at the fakes. */
export function fakeEnv(f: Fakes): Record<string, string> {
  return {
    OPENAI_BASE_URL: f.openai.baseUrl,
    OPENAI_API_KEY: f.openai.apiKey,
    ANTHROPIC_BASE_URL: f.anthropic.baseUrl,
    ANTHROPIC_API_KEY: f.anthropic.apiKey,
    GEMINI_BASE_URL: f.gemini.baseUrl,
    GEMINI_API_KEY: f.gemini.apiKey,
  };
}

export const totalRequests = (f: Fakes) => f.openai.requests.length + f.anthropic.requests.length + f.gemini.requests.length;

export type ChatTestApp = TestApp & { key: string; customerId: string };

/** In-process gateway (app.request) on a fresh DB, upstreams at the fakes, one customer key. */
export async function chatApp(dialect: Dialect, f: Fakes, env: Record<string, string> = {}): Promise<ChatTestApp> {
  const t = await makeTestApp(dialect, { env: { ...fakeEnv(f), ...env } });
  const { key, customer } = await t.createCustomer();
  return Object.assign(t, { key, customerId: customer.id });
}

/** Suite hooks: fakes + an in-process gateway for the whole describe block, fakes reset per test. */
export function useChatApp(dialect: Dialect, env: Record<string, string>, bind: (f: Fakes, t: ChatTestApp) => void): void {
  let f: Fakes | undefined;
  let t: ChatTestApp | undefined;
  beforeAll(async () => {
    f = await startFakes();
    t = await chatApp(dialect, f, env);
    bind(f, t);
  });
  afterAll(async () => {
    await t?.close();
    await f?.close();
  });
  beforeEach(() => f?.reset());
}

export interface LiveServer {
  srv: RunningServer;
  db: TestDb;
  url: string;
  key: string;
  close(): Promise<void>;
}

/** A real listening gateway (port 0) on a fresh DB: for sockets, disconnects and the OpenAI SDK. */
export async function liveServer(dialect: Dialect, f: Fakes, env: Record<string, string> = {}): Promise<LiveServer> {
  const db = await makeTestDb(dialect);
  const config = testConfig({ ...fakeEnv(f), ...env });
  const srv = await startServer(config, { storage: db.storage, skipMigrations: true, port: 0, host: '127.0.0.1', logger: createLogger({ level: 'silent' }) });
  const { master } = await srv.container.customers.create({ email: `live-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com` }, { actor: 'test' });
  return {
    srv,
    db,
    url: srv.url,
    key: master.key,
    async close() {
      await srv.stop();
      await db.close();
    },
  };
}

export interface SseFrame {
  event?: string;
  data: string;
}

/** Splits an SSE body into frames (test-side parser, independent of src/lib/sse.ts). */
export function parseSse(text: string): SseFrame[] {
  const out: SseFrame[] = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim()) continue;
    const f: SseFrame = { data: '' };
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      if (line.startsWith('event: ')) f.event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (!data.length) continue;
    f.data = data.join('\n');
    out.push(f);
  }
  return out;
}

export const json = <T = Record<string, unknown>>(f: SseFrame): T => JSON.parse(f.data) as T;

export const userMsg = (content = 'Hello there friend') => [{ role: 'user', content }];
