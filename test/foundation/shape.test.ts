import { describe, expect, it } from 'vitest';
import type { Spelled } from '../../src/lib/shape.ts';

/** src/lib/shape.ts: a `Spelled<T>` literal must name every field of T (checked by `tsc`, part of `npm test`). */

interface Req {
  model: string;
  temperature?: number;
  stop?: string[];
}

describe('Spelled<T>', () => {
  it('takes a literal naming every field, an unset optional one as undefined', () => {
    const r: Spelled<Req> = { model: 'm', temperature: undefined, stop: ['x'] };
    expect(Object.keys(r)).toEqual(['model', 'temperature', 'stop']);
  });

  it('refuses a literal that leaves out an optional field (the compiler names it)', () => {
    // @ts-expect-error: `stop` is missing
    const r: Spelled<Req> = { model: 'm', temperature: 1 };
    // @ts-expect-error: `model` may not be undefined (it is not optional in Req)
    const s: Spelled<Req> = { model: undefined, temperature: 1, stop: undefined };
    expect([r.model, s.temperature]).toEqual(['m', 1]);
  });
});
