import type { z } from '@hono/zod-openapi';

/**
 * A quick yes for a zod schema's plain case, built once from the schema itself.
 *
 * zod's own parse walks generic machinery per field (payloads, issue lists, check loops): 23–45 µs
 * for a chat body in the running gateway at concurrency 1, 86–127 µs on a stream's first request
 * after a quiet spell. The acceptor is generated from the schema's definition as the source of one
 * plain function (below) and answers only "valid, and this is zod's output" or "ask zod": a mean
 * of ≈ 3 µs per call in the gateway, against ≈ 11 µs for the walk of closures it replaced
 * (bench/README.md, "Validation's quick yes"). So zod stays the one definition and the only source
 * of refusals and their messages: anything the acceptor is not sure of — a failed check, an input
 * zod would coerce or report, a node or check kind it does not know — goes to `safeParse`.
 *
 * Never accepts what zod refuses; the output equals zod's (test/http/schema-accept.test.ts compares
 * the two on generated bodies). `compileAcceptor` returns null for a schema with any node it does
 * not know, and the caller then always asks zod.
 */

/** The acceptor's "ask zod": the value failed, or is outside what the acceptor decides. */
const ASK = Symbol('ask zod');
type Def = { type: string; [k: string]: unknown };
type CheckDef = { check: string; [k: string]: unknown };

const defOf = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def;

/** Thrown while compiling: the schema has something the acceptor does not decide. */
class Unsupported extends Error {}

export type Acceptor<T> = (input: unknown) => { success: true; data: T } | undefined;

/**
 * One function per schema, generated once (`new Function`, as zod's own JIT does for objects): a
 * single pass over the body with no call per node, so its property reads and type tests stay
 * monomorphic. Only the schema's own structure goes into the source — keys as JSON string
 * literals, bounds and lengths as finite numbers — and everything else (transforms, enum sets,
 * literal values) is passed in as constants, so no input ever reaches it. `name` labels the
 * function in profiles (schema-accept/<name>.js).
 */
export function compileAcceptor<T>(schema: z.ZodType<T>, name = 'schema'): Acceptor<T> | null {
  const g = new Gen();
  let code: string;
  try {
    code = g.value(schema, 'input', 'out');
  } catch (e) {
    if (e instanceof Unsupported) return null;
    throw e;
  }
  const source = `return function accept(input) {\nlet out;\n${code}\nreturn out;\n}\n//# sourceURL=schema-accept/${encodeURIComponent(name)}.js`;
  let accept: (input: unknown) => unknown;
  try {
    accept = new Function('ASK', 'C', source)(ASK, g.consts) as (input: unknown) => unknown;
  } catch (e) {
    // Node run with --disallow-code-generation-from-strings (a hardening some operators use):
    // zod alone then, as zod's own JIT falls back too.
    if (e instanceof EvalError) return null;
    throw e;
  }
  return (input) => {
    let out: unknown;
    try {
      out = accept(input);
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

const checksOf = (d: Def): CheckDef[] => ((d.checks as { _zod: { def: CheckDef } }[] | undefined) ?? []).map((c) => c._zod.def);

/** A number as a source literal (finite numbers print exactly; -0 compares as 0). */
function num(x: unknown): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new Unsupported();
  return String(x);
}

/**
 * The source generator. `value(schema, v, o)` returns statements that read the variable `v` and
 * either assign the output to the (declared) variable `o` or `return ASK` from the whole function:
 * any "ask zod" anywhere sends the whole body to zod, as it did node by node before.
 */
class Gen {
  readonly consts: unknown[] = [];
  private n = 0;

  private constant(x: unknown): string {
    this.consts.push(x);
    return `C[${this.consts.length - 1}]`;
  }

  private fresh(prefix: string): string {
    return `${prefix}${this.n++}`;
  }

  value(schema: unknown, v: string, o: string): string {
    const d = defOf(schema);
    const allowed = KEYS[d.type];
    if (!allowed || Object.keys(d).some((k) => k !== 'type' && k !== 'checks' && k !== 'error' && !allowed.includes(k))) throw new Unsupported();
    if (d.type === 'string') return this.string(d, v, o);
    if (d.type === 'number') return this.number(d, v, o);
    if (d.type === 'array') return this.array(d, v, o);
    if (checksOf(d).length) throw new Unsupported();
    switch (d.type) {
      case 'boolean':
        return `if (typeof ${v} !== 'boolean') return ASK;\n${o} = ${v};`;
      case 'null':
        return `if (${v} !== null) return ASK;\n${o} = null;`;
      case 'literal':
        return `if (${v} === undefined || !${this.constant(d.values)}.includes(${v})) return ASK;\n${o} = ${v};`;
      case 'enum': {
        const values = Object.values(d.entries as Record<string, unknown>);
        // String enums only: a numeric TypeScript enum's entries hold reverse mappings zod leaves out.
        if (!values.every((x) => typeof x === 'string')) throw new Unsupported();
        return `if (!${this.constant(new Set(values))}.has(${v})) return ASK;\n${o} = ${v};`;
      }
      case 'nullable':
        return `if (${v} === null) ${o} = null;\nelse {\n${this.value(d.innerType, v, o)}\n}`;
      case 'optional':
        // Only inside an object, which handles an absent key itself; a present undefined asks zod.
        return this.value(d.innerType, v, o);
      case 'object':
        return this.object(d, v, o);
      case 'union':
        return this.union(d, v, o);
      case 'pipe': {
        const mid = this.fresh('p');
        return `let ${mid};\n${this.value(d.in, v, mid)}\n${this.value(d.out, mid, o)}`;
      }
      case 'transform': {
        const fn = d.transform as (v: unknown) => unknown;
        // A transform that takes zod's context may add issues: zod must run it.
        if (typeof fn !== 'function' || fn.length > 1) throw new Unsupported();
        return `${o} = ${this.constant(fn)}(${v});\nif (${o} instanceof Promise) return ASK;`;
      }
      default:
        throw new Unsupported();
    }
  }

  /** Length bounds (min_length, max_length) on `.length`; anything else unsupported. */
  private length(c: CheckDef, v: string): string {
    if (c.check === 'min_length') return `if (${v}.length < ${num(c.minimum)}) return ASK;`;
    if (c.check === 'max_length') return `if (${v}.length > ${num(c.maximum)}) return ASK;`;
    throw new Unsupported();
  }

  private string(d: Def, v: string, o: string): string {
    // In order, as zod runs them: an overwrite (trim, toLowerCase) changes the value the next sees.
    const steps = checksOf(d).map((c) => {
      if (c.check !== 'overwrite') return this.length(c, o);
      if (typeof c.tx !== 'function') throw new Unsupported();
      return `${o} = ${this.constant(c.tx)}(${o});`;
    });
    return [`if (typeof ${v} !== 'string') return ASK;`, `${o} = ${v};`, ...steps].join('\n');
  }

  private number(d: Def, v: string, o: string): string {
    const tests = checksOf(d).map((c) => {
      if (c.check === 'greater_than') return `${v} ${c.inclusive ? '>=' : '>'} ${num(c.value)}`;
      if (c.check === 'less_than') return `${v} ${c.inclusive ? '<=' : '<'} ${num(c.value)}`;
      if (c.check === 'number_format' && c.format === 'safeint') return `Number.isSafeInteger(${v})`;
      throw new Unsupported();
    });
    const ok = [`typeof ${v} === 'number'`, `Number.isFinite(${v})`, ...tests].join(' && ');
    return `if (!(${ok})) return ASK;\n${o} = ${v};`;
  }

  private array(d: Def, v: string, o: string): string {
    const lengths = checksOf(d).map((c) => this.length(c, v));
    const [i, x, r] = [this.fresh('i'), this.fresh('x'), this.fresh('r')];
    return [
      `if (!Array.isArray(${v})) return ASK;`,
      ...lengths,
      `${o} = new Array(${v}.length);`,
      `for (let ${i} = 0; ${i} < ${v}.length; ${i}++) {`,
      `const ${x} = ${v}[${i}];`,
      `let ${r};`,
      this.value(d.element, x, r),
      `${o}[${i}] = ${r};`,
      `}`,
    ].join('\n');
  }

  private object(d: Def, v: string, o: string): string {
    // Strict objects only (catchall never): an unknown key is zod's to refuse. A loose or
    // passthrough object would need the unknown keys copied or dropped as zod does.
    if (!d.catchall || defOf(d.catchall).type !== 'never') throw new Unsupported();
    const present = this.fresh('n');
    const lines = [
      `if (typeof ${v} !== 'object' || ${v} === null || Array.isArray(${v}) || Object.getPrototypeOf(${v}) !== Object.prototype) return ASK;`,
      `let ${present} = 0;`,
      `${o} = {};`,
    ];
    // In the shape's order, as zod builds its output.
    for (const [key, s] of Object.entries(d.shape as Record<string, unknown>)) {
      if (key === '__proto__') throw new Unsupported();
      const [x, r, k] = [this.fresh('x'), this.fresh('r'), JSON.stringify(key)];
      // Absent, or present as undefined: the key count below tells them apart.
      const absent = defOf(s).type === 'optional' ? '' : 'return ASK;';
      lines.push(`{`, `const ${x} = ${v}[${k}];`, `if (${x} === undefined) {${absent}}`, `else {`, `${present}++;`, `let ${r};`, this.value(s, x, r), `${o}[${k}] = ${r};`, `}`, `}`);
    }
    // zod reads the keys with for…in: one beyond those found above (unknown, or present as
    // undefined) is zod's to refuse or decide.
    const [keys, k] = [this.fresh('c'), this.fresh('k')];
    lines.push(`let ${keys} = 0;`, `for (const ${k} in ${v}) if (++${keys} > ${present} || ${k} === '__proto__') return ASK;`);
    return lines.join('\n');
  }

  /**
   * zod takes the first option that parses. "Ask zod" does not say an option refused, so the
   * acceptor cannot move on to the next; it supports unions whose options take different kinds of
   * value (a string or an array, say): then the value's kind picks the one option that can take it.
   */
  private union(d: Def, v: string, o: string): string {
    const seen = new Set<Kind>();
    const kind = this.fresh('t');
    const branches = (d.options as unknown[]).map((option) => {
      const kinds = kindsOf(option);
      for (const k of kinds) {
        if (seen.has(k)) throw new Unsupported();
        seen.add(k);
      }
      return `if (${kinds.map((k) => `${kind} === '${k}'`).join(' || ')}) {\n${this.value(option, v, o)}\n}`;
    });
    return `const ${kind} = ${v} === null ? 'null' : Array.isArray(${v}) ? 'array' : typeof ${v};\n${[...branches, 'return ASK;'].join(' else ')}`;
  }
}

/** What a value is, as the union above tells its options apart (typeof, with null and arrays apart). */
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
    case 'enum': {
      const kinds = [...new Set((d.type === 'literal' ? (d.values as unknown[]) : Object.values(d.entries as object)).map(kindOf))];
      // 'other' (a bigint, a symbol) is no typeof answer the generated test compares against.
      if (kinds.includes('other')) throw new Unsupported();
      return kinds;
    }
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
