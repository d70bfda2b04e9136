import type { z } from '@hono/zod-openapi';

/**
 * A quick yes for a zod schema's plain case, built once from the schema itself.
 *
 * zod's own parse walks generic machinery per field (payloads, issue lists, check loops): 23–45 µs
 * for a chat body in the running gateway at concurrency 1, 86–127 µs on a stream's first request
 * after a quiet spell; this walk takes 11–23 and 39–46 µs (bench/README.md, "Validation's quick
 * yes"). The acceptor walks the schema's definition with one small function per node and answers
 * only "valid, and this is zod's output" or "ask zod". So zod stays the one definition and the only
 * source of refusals and their messages: anything the acceptor is not sure of — a failed check, an
 * input zod would coerce or report, a node or check kind it does not know — goes to `safeParse`.
 *
 * Never accepts what zod refuses; the output equals zod's (test/http/schema-accept.test.ts compares
 * the two on generated bodies). `compileAcceptor` returns null for a schema with any node it does
 * not know, and the caller then always asks zod.
 */

/** The acceptor's "ask zod": the value failed, or is outside what the acceptor decides. */
const ASK = Symbol('ask zod');
type Node = (v: unknown) => unknown;
type Def = { type: string; [k: string]: unknown };
type Check = { _zod: { def: { check: string; [k: string]: unknown } } };

const defOf = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def;

/** Thrown while compiling: the schema has something the acceptor does not decide. */
class Unsupported extends Error {}

export type Acceptor<T> = (input: unknown) => { success: true; data: T } | undefined;

export function compileAcceptor<T>(schema: z.ZodType<T>): Acceptor<T> | null {
  let root: Node;
  try {
    root = node(schema);
  } catch (e) {
    if (e instanceof Unsupported) return null;
    throw e;
  }
  return (input) => {
    let out: unknown;
    try {
      out = root(input);
    } catch {
      return undefined; // a transform threw: zod reports it
    }
    return out === ASK ? undefined : { success: true, data: out as T };
  };
}

/**
 * The definition keys each node kind may have besides type, checks and error (which only words
 * messages). Anything else — a string format, coercion, a default, a discriminator — changes what
 * zod accepts or returns, so the schema is unsupported.
 */
const KEYS: Record<string, readonly string[]> = {
  string: [],
  number: [],
  boolean: [],
  null: [],
  literal: ['values'],
  enum: ['entries'],
  nullable: ['innerType'],
  optional: ['innerType'],
  array: ['element'],
  object: ['shape', 'catchall'],
  union: ['options'],
  pipe: ['in', 'out'],
  transform: ['transform'],
};

function node(schema: unknown): Node {
  const d = defOf(schema);
  const allowed = KEYS[d.type];
  if (!allowed || Object.keys(d).some((k) => k !== 'type' && k !== 'checks' && k !== 'error' && !allowed.includes(k))) throw new Unsupported();
  switch (d.type) {
    case 'string':
      return stringNode(d);
    case 'number':
      return numberNode(d);
    case 'boolean':
      return noChecks(d, (v) => (typeof v === 'boolean' ? v : ASK));
    case 'null':
      return noChecks(d, (v) => (v === null ? null : ASK));
    case 'literal': {
      const values = d.values as unknown[];
      return noChecks(d, (v) => (values.includes(v) && v !== undefined ? v : ASK));
    }
    case 'enum': {
      const values = Object.values(d.entries as Record<string, unknown>);
      // String enums only: a numeric TypeScript enum's entries hold reverse mappings zod leaves out.
      if (!values.every((x) => typeof x === 'string')) throw new Unsupported();
      const set = new Set<unknown>(values);
      return noChecks(d, (v) => (set.has(v) ? v : ASK));
    }
    case 'nullable': {
      const inner = node(d.innerType);
      return noChecks(d, (v) => (v === null ? null : inner(v)));
    }
    case 'optional':
      // Only inside an object, which handles an absent key itself; a present undefined asks zod.
      return noChecks(d, node(d.innerType));
    case 'array':
      return arrayNode(d);
    case 'object':
      return objectNode(d);
    case 'union':
      return unionNode(d);
    case 'pipe': {
      const [a, b] = [node(d.in), node(d.out)];
      return noChecks(d, (v) => {
        const r = a(v);
        return r === ASK ? ASK : b(r);
      });
    }
    case 'transform': {
      const fn = d.transform as (v: unknown) => unknown;
      // A transform that takes zod's context may add issues: zod must run it.
      if (fn.length > 1) throw new Unsupported();
      return noChecks(d, (v) => {
        const r = fn(v);
        return r instanceof Promise ? ASK : r;
      });
    }
    default:
      throw new Unsupported();
  }
}

const checksOf = (d: Def): Check['_zod']['def'][] => ((d.checks as Check[] | undefined) ?? []).map((c) => c._zod.def);

function noChecks(d: Def, n: Node): Node {
  if (checksOf(d).length) throw new Unsupported();
  return n;
}

/** Length bounds (min_length, max_length) as a predicate on `.length`; anything else unsupported. */
function lengthCheck(c: Check['_zod']['def']): (n: number) => boolean {
  if (c.check === 'min_length') return (n) => n >= (c.minimum as number);
  if (c.check === 'max_length') return (n) => n <= (c.maximum as number);
  throw new Unsupported();
}

function stringNode(d: Def): Node {
  // In order, as zod runs them: an overwrite (trim, toLowerCase) changes the value the next sees.
  const steps = checksOf(d).map((c): ((s: string) => string | typeof ASK) => {
    if (c.check === 'overwrite') {
      const tx = c.tx as (s: string) => string;
      return (s) => tx(s);
    }
    const ok = lengthCheck(c);
    return (s) => (ok(s.length) ? s : ASK);
  });
  return (v) => {
    if (typeof v !== 'string') return ASK;
    let s: string | typeof ASK = v;
    for (const step of steps) if ((s = step(s)) === ASK) return ASK;
    return s;
  };
}

function numberNode(d: Def): Node {
  const tests = checksOf(d).map((c): ((n: number) => boolean) => {
    const bound = c.value as number;
    if (c.check === 'greater_than') return c.inclusive ? (n) => n >= bound : (n) => n > bound;
    if (c.check === 'less_than') return c.inclusive ? (n) => n <= bound : (n) => n < bound;
    if (c.check === 'number_format' && c.format === 'safeint') return Number.isSafeInteger;
    throw new Unsupported();
  });
  return (v) => (typeof v === 'number' && Number.isFinite(v) && tests.every((t) => t(v)) ? v : ASK);
}

function arrayNode(d: Def): Node {
  const element = node(d.element);
  const lengths = checksOf(d).map(lengthCheck);
  return (v) => {
    if (!Array.isArray(v) || !lengths.every((ok) => ok(v.length))) return ASK;
    const out: unknown[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) if ((out[i] = element(v[i])) === ASK) return ASK;
    return out;
  };
}

function objectNode(d: Def): Node {
  // Strict objects only (catchall never): an unknown key is zod's to refuse. A loose or
  // passthrough object would need the unknown keys copied or dropped as zod does.
  if (!d.catchall || defOf(d.catchall).type !== 'never') throw new Unsupported();
  const fields = Object.entries(d.shape as Record<string, unknown>).map(([key, s]) => ({ key, optional: defOf(s).type === 'optional', parse: node(s) }));
  return noChecks(d, (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) return ASK;
    const input = v as Record<string, unknown>;
    let present = 0;
    const out: Record<string, unknown> = {};
    // In the shape's order, as zod builds its output.
    for (const f of fields) {
      const x = input[f.key];
      if (x === undefined) {
        // Absent, or present as undefined: the count below tells them apart.
        if (!f.optional) return ASK;
        continue;
      }
      present++;
      const r = f.parse(x);
      if (r === ASK) return ASK;
      out[f.key] = r;
    }
    // zod reads the keys with for…in: one beyond those found above (unknown, or present as
    // undefined) is zod's to refuse or decide.
    let keys = 0;
    for (const k in input) if (++keys > present || k === '__proto__') return ASK;
    return out;
  });
}

/** What a value is, as the union below tells its options apart. */
type Kind = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'null' | 'undefined' | 'other';

function kindOf(v: unknown): Kind {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' || t === 'object' || t === 'undefined' ? t : 'other';
}

/** The kinds of value a schema can accept; unsupported when that is not known from its definition. */
function kindsOf(schema: unknown): Kind[] {
  const d = defOf(schema);
  switch (d.type) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'array':
    case 'object':
    case 'null':
      return [d.type];
    case 'literal':
    case 'enum':
      return [...new Set((d.type === 'literal' ? (d.values as unknown[]) : Object.values(d.entries as object)).map(kindOf))];
    case 'nullable':
      return ['null', ...kindsOf(d.innerType)];
    case 'optional':
      return ['undefined', ...kindsOf(d.innerType)];
    case 'pipe':
      return kindsOf(d.in);
    case 'union':
      return (d.options as unknown[]).flatMap(kindsOf);
    default:
      throw new Unsupported();
  }
}

/**
 * zod takes the first option that parses. The acceptor's "ask zod" does not say an option refused,
 * so it cannot move on to the next; it supports unions whose options take different kinds of value
 * (a string or an array, say): then the value's kind picks the one option that can take it.
 */
function unionNode(d: Def): Node {
  const byKind = new Map<Kind, Node>();
  for (const option of d.options as unknown[]) {
    const parse = node(option);
    for (const k of kindsOf(option)) {
      if (byKind.has(k)) throw new Unsupported();
      byKind.set(k, parse);
    }
  }
  return noChecks(d, (v) => {
    const parse = byKind.get(kindOf(v));
    return parse ? parse(v) : ASK;
  });
}
