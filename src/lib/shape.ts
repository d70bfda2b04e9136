/**
 * Objects of one shape on the request path.
 *
 * On Node 20 (V8 11.3) an object that starts as a spread's copy gets a new hidden class (map) for
 * every property added to it afterwards, per object: `{ ...a, x }`, `{ ...a, ...b }`, and
 * `const o = { ...a }; o.x = 1` each made a map of its own on 19 991 of 20 000 calls in a
 * `%HaveSameMap` check, where `{ x, ...a }`, `Object.assign({}, a, { x })` and a literal naming
 * every field kept one map. (Overwriting a property the copy already has, `{ ...a, x }` with `x` in
 * `a`, keeps the map too.) Every later read of such an object then misses V8's inline caches and
 * goes to the runtime: 24 times per /v1 chat call and 51 per /v1 stream, ≈ 9 % of the gateway's
 * instructions per call, until the request path stopped building its objects that way
 * (bench/README.md, "Objects of one shape"). `npm run bench -- --ic` lists the sites that still
 * miss, and test/bench/ic-run.test.ts fails when a warmed-up call misses once.
 *
 * So on the hot path: a literal first and the spread after it, or every field spelled out. This
 * type helps with the second: a literal typed `Spelled<T>` must name every property of T, the
 * optional ones as `undefined` when unset, so a field added to T later cannot be dropped silently.
 */
export type Spelled<T> = { [K in keyof Required<T>]: T[K] };
