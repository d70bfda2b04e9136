import { describe, expect, it } from 'vitest';
import { scrub } from '../../src/lib/logger.ts';
import { clip, clipJson } from '../../src/monitor/sanitize.ts';

/** The slow path clip() had before its fast path: every string scrubbed, NULs removed, cut. */
function reference(v: string, max: number): string | null {
  let s = v;
  if (s.length === 0) return null;
  if (s.length > max * 2) s = s.slice(0, max * 2);
  s = scrub(s.replaceAll('\u0000', ''));
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

describe('monitor clip', () => {
  const key = 'kx_live_abcdEFGH1234_-xyz';
  const samples = [
    '/v1/chat/completions',
    'gpt-4o-mini',
    'undici',
    `/v1/path/${key}/x`,
    `Authorization: Bearer sk-proj-0123456789abcdef`,
    'bearer abcdefghijklmnop',
    'BEARER short',
    'kx_live_ab', // too short to be a key: left as is
    'null\u0000byte',
    'x'.repeat(130),
    `${'y'.repeat(100)}${key}`,
    'ünïcödé ✓',
  ];

  it('returns exactly what scrubbing every string would, for clean and dirty input', () => {
    for (const s of samples) for (const max of [10, 120, 1000]) expect(clip(s, max), `${JSON.stringify(s)} @${max}`).toBe(reference(s, max));
  });

  it('scrubs key material and bearer tokens, removes NUL bytes, bounds length', () => {
    expect(clip(`see ${key} here`, 120)).toBe('see kx_live_[REDACTED] here');
    expect(clip('Bearer abcdefgh12345678', 120)).toBe('Bearer [REDACTED]');
    expect(clip('a\u0000b', 120)).toBe('ab');
    expect(clip('abcdef', 4)).toBe('abc…');
    expect(clip('', 10)).toBeNull();
    expect(clip(undefined, 10)).toBeNull();
    expect(clip(42, 10)).toBe('42');
  });

  it('returns a clean short string unchanged (the per-request fast path)', () => {
    const s = '/v1/chat/completions';
    expect(clip(s, 1000)).toBe(s);
  });

  it('clips every string inside an extra object', () => {
    expect(clipJson({ a: `x ${key}`, n: 1 }, 1000)).toBe('{"a":"x kx_live_[REDACTED]","n":1}');
    expect(clipJson({}, 1000)).toBeNull();
  });
});
