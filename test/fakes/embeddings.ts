import { createHash } from 'node:crypto';
import type { FakeResponse } from './base.ts';

/**
 * OpenAI embeddings (external-apis.md §4.2): deterministic unit vectors derived from the text,
 * as float32 values; `encoding_format: "base64"` returns the little-endian float32 bytes, which
 * is what the openai SDK asks for by default.
 */
export function fakeVector(text: string, dims: number): Float32Array {
  const v = new Float32Array(dims);
  let seed = createHash('sha256').update(text).digest();
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    if (i % 8 === 0 && i > 0) seed = createHash('sha256').update(seed).digest();
    const x = seed.readInt32LE((i % 8) * 4) / 2 ** 31;
    v[i] = x;
    norm += x * x;
  }
  const n = Math.sqrt(norm) || 1;
  for (let i = 0; i < dims; i++) v[i] = v[i] / n;
  return v;
}

const invalid = (message: string, param: string | null = null): FakeResponse => ({
  status: 400,
  body: JSON.stringify({ error: { message, type: 'invalid_request_error', param, code: null } }),
});

export function embeddingsResponse(body: unknown): FakeResponse {
  if (typeof body !== 'object' || body === null) return invalid('We could not parse the JSON body of your request.');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!['input', 'model', 'dimensions', 'encoding_format', 'user'].includes(k)) return invalid(`Unrecognized request argument supplied: ${k}`);
  }
  if (typeof b.model !== 'string') return invalid('you must provide a model parameter', 'model');
  const inputs = typeof b.input === 'string' ? [b.input] : Array.isArray(b.input) && b.input.every((x) => typeof x === 'string') ? (b.input as string[]) : undefined;
  if (!inputs || inputs.length === 0 || inputs.some((s) => s.length === 0)) return invalid("'$.input' is invalid.", 'input');
  const dims = typeof b.dimensions === 'number' ? b.dimensions : 8;
  const base64 = b.encoding_format === 'base64';
  let tokens = 0;
  const data = inputs.map((text, index) => {
    tokens += Math.ceil(Buffer.byteLength(text, 'utf8') / 4);
    const v = fakeVector(text, dims);
    const embedding = base64 ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v);
    return { object: 'embedding', index, embedding };
  });
  return { status: 200, body: JSON.stringify({ object: 'list', data, model: b.model, usage: { prompt_tokens: tokens, total_tokens: tokens } }) };
}
