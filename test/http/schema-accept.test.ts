import { rmSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { SeedChatBody } from '../../src/http/routes/chat/schemas.ts';
import { V1ChatBody } from '../../src/http/routes/v1/schemas.ts';
import { compileAcceptor, type Acceptor } from '../../src/http/schema-accept.ts';
import { startFakeOpenAI } from '../fakes/index.ts';
import { http, SECRETS, startGateway, tempDir } from '../foundation/proc.ts';

/**
 * The fast lane's quick yes (src/http/schema-accept.ts) against zod itself, on generated bodies:
 * it must never accept what zod refuses, its output must be zod's (key order included, as the body
 * may be serialized again), and on JSON input — all the fast lane ever gives it — it must accept
 * everything zod accepts, or the lane would quietly pay for zod again.
 */

/** Deterministic PRNG (mulberry32): a failure names its seed and can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type R = ReturnType<typeof rng>;

const str = (r: R, n: number) => 'abc xyz_'.repeat(Math.ceil(n / 8)).slice(0, n);
/** Lengths on both sides of every bound the chat schemas set. */
const LENGTHS = [0, 1, 2, 63, 64, 65, 199, 200, 201, 255, 256, 257];
const NUMBERS = [0, -0, 1, -1, 0.5, 1.5, 2, 2.0000001, 32, 1_000_000, 1_000_001, 2 ** 53, 2 ** 53 + 2, -1e-9, 1e308];

function weird(r: R, depth = 0): unknown {
  switch (r.int(10)) {
    case 0:
      return null;
    case 1:
      return r.pick(NUMBERS);
    case 2:
      return r.chance(0.5);
    case 3:
      return str(r, r.pick(LENGTHS));
    case 4:
      return r.pick(['', ' ', '  user ', 'USER', 'User', 'user', 'system', 'tool', 'text', 'developer', 'assistant']);
    case 5:
      return depth > 2 ? [] : Array.from({ length: r.int(4) }, () => weird(r, depth + 1));
    case 6:
      return depth > 2 ? {} : { type: 'text', text: str(r, r.int(5)), ...(r.chance(0.3) ? { extra: weird(r, depth + 1) } : {}) };
    case 7:
      return r.pick([{ role: 'user', content: 'hi' }, { role: 'user' }, { content: 'x' }]);
    case 8:
      return r.pick(['1', 'true', '[]']);
    default:
      return depth > 2 ? 1 : { include_usage: r.chance(0.5), ...(r.chance(0.3) ? { x: 1 } : {}) };
  }
}

function content(r: R, v1: boolean): unknown {
  if (v1 && r.chance(0.25)) return r.chance(0.2) ? null : Array.from({ length: r.int(3) }, () => ({ type: 'text', text: str(r, r.int(6)) }));
  return str(r, r.int(12));
}

function message(r: R, v1: boolean): Record<string, unknown> {
  const roles = v1 ? ['system', 'developer', 'user', 'assistant'] : ['system', 'user', ' Assistant ', 'USER', 'developer'];
  const m: Record<string, unknown> = { role: r.pick(roles), content: content(r, v1) };
  if (v1 && r.chance(0.2)) m.name = str(r, r.pick([1, 64]));
  return m;
}

/** A body that is mostly valid, then a few random mutations of its keys and values. */
function body(r: R, v1: boolean): Record<string, unknown> {
  const b: Record<string, unknown> = v1 ? {} : { provider: r.pick(['openai', ' anthropic ', 'gemini']) };
  b.model = r.pick(['gpt-4o-mini', ' gpt-4o-mini ', 'openai/gpt-4o-mini', 'kaixu-chat']);
  b.messages = Array.from({ length: 1 + r.int(3) }, () => message(r, v1));
  if (r.chance(0.5)) b.max_tokens = r.pick([1, 32, 1024, 1_000_000, null]);
  if (r.chance(0.3)) b.temperature = r.pick([0, 0.7, 2, null]);
  if (r.chance(0.3)) b.top_p = r.pick([0, 0.9, 1, null]);
  if (r.chance(0.3)) b.stop = r.pick(['\n', ['a', 'b'], [], null]);
  if (v1) {
    if (r.chance(0.5)) b.stream = r.pick([true, false, null]);
    if (r.chance(0.4)) b.stream_options = r.pick([{ include_usage: true }, { include_usage: false, include_obfuscation: true }, {}, null]);
    if (r.chance(0.2)) b.max_completion_tokens = r.pick([16, null]);
    if (r.chance(0.1)) b.n = r.pick([1, null]);
    if (r.chance(0.1)) b.user = str(r, r.pick([0, 256]));
  }
  const keys = ['provider', 'model', 'messages', 'max_tokens', 'temperature', 'top_p', 'stop', 'stream', 'stream_options', 'max_completion_tokens', 'n', 'user', 'tools', '__proto__'];
  for (let i = r.int(3); i > 0; i--) {
    const k = r.pick(keys);
    if (r.chance(0.25)) delete b[k];
    else if (k === 'messages' && r.chance(0.6)) {
      const ms = Array.isArray(b.messages) ? [...(b.messages as unknown[])] : [];
      if (ms.length && r.chance(0.5)) ms[r.int(ms.length)] = { ...(ms[0] as object), [r.pick(['role', 'content', 'name', 'extra'])]: weird(r) };
      else ms.length = r.pick([0, 1, 2001]) === 2001 ? 0 : ms.length;
      b.messages = ms;
    } else Object.defineProperty(b, k, { value: weird(r), enumerable: true, configurable: true, writable: true });
  }
  return b;
}

function compare<T>(name: string, schema: z.ZodType<T>, accept: Acceptor<T>, input: unknown, fromJson: boolean) {
  const fast = accept(input);
  const slow = schema.safeParse(input);
  const where = `${name}: ${JSON.stringify(input)?.slice(0, 300)}`;
  if (fast) {
    expect(slow.success, `accepted what zod refuses — ${where}`).toBe(true);
    expect(isDeepStrictEqual(fast.data, slow.data), `output differs from zod's — ${where}`).toBe(true);
    expect(JSON.stringify(fast.data), where).toBe(JSON.stringify(slow.data));
  } else if (fromJson) expect(slow.success, `zod accepts, the quick yes asked it — ${where}`).toBe(false);
  return { fast: !!fast, slow: slow.success };
}

describe('schema-accept: the fast lane’s chat schemas', () => {
  it.each([
    ['V1ChatBody', V1ChatBody, true],
    ['SeedChatBody', SeedChatBody, false],
  ] as const)('%s: on 4000 generated bodies, the same yes as zod with zod’s output, and no other', (name, schema, v1) => {
    const accept = compileAcceptor(schema as z.ZodType<unknown>);
    // A change to the schema that the acceptor cannot follow would silently cost the lane zod's price.
    expect(accept, `${name} no longer compiles to a quick yes: extend src/http/schema-accept.ts`).not.toBeNull();
    const r = rng(v1 ? 7 : 11);
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 4000; i++) {
      const json = JSON.stringify(body(r, v1));
      const res = compare(name, schema as z.ZodType<unknown>, accept!, JSON.parse(json), true);
      if (res.fast) accepted++;
      if (!res.slow) refused++;
    }
    // Both sides well represented, or the comparison proves little.
    expect(accepted).toBeGreaterThan(800);
    expect(refused).toBeGreaterThan(800);
  });

  it('what JSON cannot hold goes to zod, which decides', () => {
    const accept = compileAcceptor(V1ChatBody)!;
    const base = { model: 'm', messages: [{ role: 'user', content: 'x' }] };
    expect(accept(base)?.data).toEqual(base);
    const odd: unknown[] = [
      { ...base, stream: undefined },
      Object.assign(Object.create(null) as object, base),
      Object.assign(new (class Body {})(), base),
      { ...base, max_tokens: Number.NaN },
      { ...base, max_tokens: Number.POSITIVE_INFINITY },
      { ...base, messages: [{ role: 'user', content: 'x', name: undefined }] },
      [base],
      'string',
      undefined,
    ];
    for (const x of odd) {
      expect(accept(x), String(JSON.stringify(x))).toBeUndefined();
      compare('V1ChatBody', V1ChatBody, accept, x, false);
    }
    // Keys zod does not see (it reads keys with for…in): accepted as zod accepts them, same output.
    for (const x of [{ ...base, [Symbol('s')]: 1 }, Object.defineProperty({ ...base }, 'hidden', { value: 1, enumerable: false })]) {
      expect(compare('V1ChatBody', V1ChatBody, accept, x, true)).toEqual({ fast: true, slow: true });
    }
  });
});

describe('schema-accept: other schemas', () => {
  it('bounds as zod reads them: inclusive and exclusive, integers, lengths after an overwrite', () => {
    const schema = z
      .object({
        a: z.number().gt(0).lt(10),
        b: z.number().int().min(-3).max(3).optional(),
        s: z.string().trim().toLowerCase().min(2).max(4),
        e: z.enum(['x', 'y']).nullable().optional(),
        l: z.literal(['one', 2]).optional(),
        u: z.union([z.string().max(2), z.array(z.number()).max(2), z.null()]).optional(),
      })
      .strict();
    const accept = compileAcceptor(schema)!;
    expect(accept).not.toBeNull();
    const r = rng(3);
    const pool = [0, 0.0001, 9.9999, 10, -3, 3, -4, 4, 1.5, 'ab', '  AB  ', 'a', ' abcde ', 'x', 'y', 'z', null, 'one', 2, 'two', [], [1, 2], [1, 2, 3], ['a'], {}, true];
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const x: Record<string, unknown> = { a: r.pick([0, 0.0001, 9.9999, 10, 1.5, '1']), s: r.pick(['ab', '  AB  ', 'a', ' abcde ', 'AbCd', 7]) };
      for (const k of ['b', 'e', 'l', 'u', 'zz']) if (r.chance(k === 'zz' ? 0.1 : 0.4)) x[k] = r.pick(pool);
      if (compare('bounds', schema, accept, x, true).fast) accepted++;
    }
    expect(accepted).toBeGreaterThan(30);
  });

  it('the generated source holds keys as literals: keys that need quoting, and names of Object.prototype members', () => {
    // The acceptor is generated source (new Function): a key that broke out of its string literal
    // would change the code, and a key named like a prototype member is read through the prototype
    // when absent.
    const odd = ['a"b', "c'd", 'e\\f', 'g\u2028h', '${x}', 'constructor', 'toString', 'hasOwnProperty', ''];
    const shape = Object.fromEntries(odd.map((k, i) => [k, i % 2 ? z.string().max(3).optional() : z.number().int().optional()]));
    const schema = z.object({ ...shape, req: z.boolean() }).strict();
    const accept = compileAcceptor(schema)!;
    expect(accept).not.toBeNull();
    const r = rng(5);
    let accepted = 0;
    for (let i = 0; i < 2000; i++) {
      const x: Record<string, unknown> = r.chance(0.9) ? { req: r.chance(0.5) } : {};
      // Absent, a prototype member's name reads as a function, which zod refuses: mostly present.
      for (const [j, k] of odd.entries()) if (r.chance(k in {} ? 0.95 : 0.3)) x[k] = r.chance(0.9) ? (j % 2 ? r.pick(['', 'ab', 'abc']) : r.pick([1, -2])) : r.pick(['abcd', 1, 1.5, 'x']);
      if (compare('odd keys', schema, accept, JSON.parse(JSON.stringify(x)), true).fast) accepted++;
    }
    expect(accepted).toBeGreaterThan(200);
    expect(accepted).toBeLessThan(1800);
    const all = { 'a"b': 0, "c'd": 'c', 'e\\f': 4, 'g\u2028h': 'g', '${x}': 8, constructor: 'x', toString: 12, hasOwnProperty: 'h', '': 16, req: true };
    expect(accept(JSON.parse(JSON.stringify(all)))?.data).toEqual(all);
    // A shape key __proto__ would set the output's prototype: zod alone decides such a schema.
    expect(compileAcceptor(z.object({ ['__proto__']: z.string() }).strict())).toBeNull();
  });

  it('a schema with anything it does not decide exactly compiles to null: zod alone then', () => {
    const unsupported: [string, z.ZodType][] = [
      ['a regex', z.object({ a: z.string().regex(/^a/) }).strict()],
      ['an email format', z.object({ a: z.email() }).strict()],
      ['a loose object (unknown keys kept or dropped)', z.object({ a: z.string() })],
      ['a passthrough object', z.object({ a: z.string() }).passthrough()],
      ['overlapping union options', z.union([z.literal('a'), z.string()])],
      ['a refinement', z.object({ a: z.number() }).strict().refine((o) => o.a > 1)],
      ['a transform reading zod’s context', z.string().transform((v, ctx) => (ctx.issues.length ? v : v))],
      ['a default', z.object({ a: z.number().default(1) }).strict()],
      ['a numeric enum', z.enum({ A: 0, B: 1 })],
      ['multipleOf', z.number().multipleOf(2)],
      ['coercion', z.coerce.number()],
    ];
    for (const [what, s] of unsupported) expect(compileAcceptor(s), what).toBeNull();
  });
});

/**
 * The acceptor is generated code (new Function). Some operators harden Node with
 * --disallow-code-generation-from-strings: code generation then throws, and the gateway must still
 * start and serve, with zod alone deciding (as zod's own JIT falls back).
 */
describe('schema-accept: Node without code generation from strings', { timeout: 90_000 }, () => {
  it('a gateway started with NODE_OPTIONS=--disallow-code-generation-from-strings serves the fast lane, zod deciding alone', async () => {
    const fake = await startFakeOpenAI();
    const dir = tempDir('kaixu-noeval-');
    const gw = await startGateway({
      ...SECRETS,
      NODE_OPTIONS: '--disallow-code-generation-from-strings',
      DATA_DIR: dir,
      LOG_LEVEL: 'warn',
      JOBS_ENABLED: 'false',
      OPENAI_BASE_URL: fake.baseUrl,
      OPENAI_API_KEY: fake.apiKey,
    }).catch(async (e: unknown) => {
      await fake.close();
      throw e;
    });
    try {
      const token = (await http(gw.url, 'POST', '/admin/api/login', { body: { password: SECRETS.ADMIN_PASSWORD } })).json.token as string;
      const c = await http(gw.url, 'POST', '/admin/api/customers', { token, body: { email: 'noeval@example.com', monthly_cap_cents: 1000 } });
      expect(c.status).toBe(201);
      const key = c.json.master_key.key as string;
      const ok = await http(gw.url, 'POST', '/v1/chat/completions', { key, body: { model: ' gpt-4o-mini ', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 } });
      expect(ok.status, ok.text).toBe(200);
      expect(ok.json.object).toBe('chat.completion');
      // zod's own transform (trim) ran: the upstream was asked for the trimmed model.
      expect(fake.requests.at(-1)?.body).toMatchObject({ model: 'gpt-4o-mini' });
      const bad = await http(gw.url, 'POST', '/v1/chat/completions', { key, body: { model: 'gpt-4o-mini', messages: [] } });
      expect(bad.status).toBe(400);
      expect(bad.json.error.message).toMatch(/messages/);
    } finally {
      await gw.stop();
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(gw.stderr()).not.toMatch(/EvalError/);
  });
});
