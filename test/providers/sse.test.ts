import { describe, expect, it } from 'vitest';
import { readSse, sseComment, sseFrame, SseReader } from '../../src/lib/sse.ts';
import type { SseEvent } from '../../src/providers/types.ts';
import { fixture } from './helpers.ts';

const whole = (text: string | Uint8Array): SseEvent[] => {
  const r = new SseReader();
  return [...r.feed(text), ...r.flush()];
};

function splitAt(bytes: Uint8Array, cuts: number[]): SseEvent[] {
  const r = new SseReader();
  const out: SseEvent[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    out.push(...r.feed(bytes.subarray(prev, c)));
    prev = c;
  }
  return [...out, ...r.flush()];
}

describe('SseReader', () => {
  it('parses data-only, named, id and multi-line events and skips comments', () => {
    const text = ': keep-alive\n\ndata: one\n\nevent: ping\nid: 7\ndata: {"a":1}\n\ndata: line1\ndata: line2\n\ndata\n\ndata:no-space\n\nretry: 10\nfoo: bar\ndata: x\n\n';
    expect(whole(text)).toEqual([
      { data: 'one' },
      { event: 'ping', id: '7', data: '{"a":1}' },
      { data: 'line1\nline2' },
      { data: '' },
      { data: 'no-space' },
      { data: 'x' },
    ]);
  });

  it('drops events without data lines (an event name alone dispatches nothing)', () => {
    expect(whole('event: foo\n\ndata: y\n\n')).toEqual([{ data: 'y' }]);
  });

  it('treats LF, CRLF and CR line endings alike', () => {
    const lf = 'event: a\ndata: 1\ndata: 2\n\ndata: 3\n\n';
    const expected = [{ event: 'a', data: '1\n2' }, { data: '3' }];
    expect(whole(lf)).toEqual(expected);
    expect(whole(lf.replace(/\n/g, '\r\n'))).toEqual(expected);
    expect(whole(lf.replace(/\n/g, '\r'))).toEqual(expected);
  });

  it('mixes the three line endings in one stream, split anywhere', () => {
    const text = 'event: x\rdata: 1\r\ndata: 2\n\r\ndata: 3\r\r: c\ndata: 4\n\ndata: 5\r\n\r\n';
    const expected = [{ event: 'x', data: '1\n2' }, { data: '3' }, { data: '4' }, { data: '5' }];
    expect(whole(text)).toEqual(expected);
    const bytes = new TextEncoder().encode(text);
    for (let i = 1; i < bytes.length; i++) expect(splitAt(bytes, [i])).toEqual(expected);
    for (let i = 1; i < bytes.length; i++) for (let j = i + 1; j < bytes.length; j++) expect(splitAt(bytes, [i, j])).toEqual(expected);
    expect(splitAt(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1))).toEqual(expected);
  });

  it('reads a chunk of many lines without a colon in time linear in its length', () => {
    // Each line's colon is looked for within the line: a search running on to the next colon in
    // the chunk made this quadratic (3.4 s for these 1.6 MB on the AMD host, 19 ms now).
    const text = 'foo\n'.repeat(400_000) + 'data: x\n\n';
    const t0 = performance.now();
    expect(whole(text)).toEqual([{ data: 'x' }]);
    expect(performance.now() - t0).toBeLessThan(1_000);
  });

  it.each(['openai-stream.txt', 'anthropic-stream.txt', 'anthropic-error.txt', 'gemini-stream.txt'])(
    'gives the same events for %s however the bytes are split (every boundary, CRLF too)',
    (name) => {
      for (const text of [fixture(name), fixture(name).replace(/\n/g, '\r\n'), fixture(name).replace(/\n/g, '\r')]) {
        const bytes = new TextEncoder().encode(text);
        const expected = whole(bytes);
        expect(expected.length).toBeGreaterThan(0);
        for (let i = 1; i < bytes.length; i++) expect(splitAt(bytes, [i])).toEqual(expected);
        expect(splitAt(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1))).toEqual(expected);
      }
    },
  );

  it('decodes a multi-byte character split across chunks', () => {
    const bytes = new TextEncoder().encode('data: héllo 🌍 世界\n\n');
    for (let i = 1; i < bytes.length; i++) expect(splitAt(bytes, [i])).toEqual([{ data: 'héllo 🌍 世界' }]);
  });

  it('drops a leading byte order mark, even split across chunks, and keeps one later in the stream', () => {
    const bytes = new TextEncoder().encode('\ufeffdata: a\ufeffb\n\n');
    expect(bytes.subarray(0, 3)).toEqual(new Uint8Array([0xef, 0xbb, 0xbf]));
    for (let i = 1; i < bytes.length; i++) expect(splitAt(bytes, [i])).toEqual([{ data: 'a\ufeffb' }]);
    expect(splitAt(bytes, [1, 2, 3])).toEqual([{ data: 'a\ufeffb' }]);
  });

  it('decodes as TextDecoder does, invalid bytes included, however the bytes are split', () => {
    // Valid and invalid UTF-8: lead bytes without their continuations, stray continuations,
    // overlong and surrogate forms, bytes that never occur (0xfe, 0xff).
    const alphabet = [0x41, 0x20, 0xc3, 0xa9, 0xe4, 0xb8, 0x96, 0xf0, 0x9f, 0x8c, 0x8d, 0x80, 0xbf, 0xff, 0xfe, 0xc0, 0xed, 0xa0, 0xf4, 0x90];
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let t = 0; t < 2000; t++) {
      const payload = Uint8Array.from({ length: 1 + rand(10) }, () => alphabet[rand(alphabet.length)]!);
      const bytes = new Uint8Array([...new TextEncoder().encode('data: '), ...payload, 0x0a, 0x0a]);
      const want = [{ data: new TextDecoder().decode(payload) }];
      const cuts = [...new Set([rand(bytes.length), rand(bytes.length), rand(bytes.length)])].filter((c) => c > 0).sort((a, b) => a - b);
      expect(splitAt(bytes, cuts), `bytes ${[...payload].map((b) => b.toString(16)).join(' ')} cut at ${cuts.join(',')}`).toEqual(want);
    }
  });

  it('CR at the end of a chunk followed by LF is one line break, not a blank line', () => {
    const r = new SseReader();
    expect(r.feed('data: a\r')).toEqual([]);
    expect(r.feed('\ndata: b\r\n')).toEqual([]);
    expect(r.feed('\r\n')).toEqual([{ data: 'a\nb' }]);
  });

  it('flush dispatches a complete event missing its blank line, but drops a truncated line', () => {
    const a = new SseReader();
    expect(a.feed('data: [DONE]\n')).toEqual([]);
    expect(a.flush()).toEqual([{ data: '[DONE]' }]);
    const b = new SseReader();
    expect(b.feed('data: {"x":1}\n\ndata: {"tru')).toEqual([{ data: '{"x":1}' }]);
    expect(b.flush()).toEqual([]);
  });

  it('readSse yields events from an async byte stream including the tail', async () => {
    async function* body() {
      yield new TextEncoder().encode('data: 1\n\nda');
      yield new TextEncoder().encode('ta: 2\n');
    }
    const out: SseEvent[] = [];
    for await (const ev of readSse(body())) out.push(ev);
    expect(out).toEqual([{ data: '1' }, { data: '2' }]);
  });
});

describe('sseFrame', () => {
  it('writes named and data-only frames', () => {
    expect(sseFrame('delta', '{"text":"hi"}')).toBe('event: delta\ndata: {"text":"hi"}\n\n');
    expect(sseFrame(undefined, '[DONE]')).toBe('data: [DONE]\n\n');
  });

  it('splits multi-line data into several data lines, and round-trips through the reader', () => {
    const data = 'a\nb\r\nc\rd';
    const f = sseFrame('x', data);
    expect(f).toBe('event: x\ndata: a\ndata: b\ndata: c\ndata: d\n\n');
    expect(whole(f)).toEqual([{ event: 'x', data: 'a\nb\nc\nd' }]);
  });

  it('rejects CR or LF in event names (frame injection)', () => {
    expect(() => sseFrame('a\ndata: evil', 'x')).toThrow(/CR or LF/);
    expect(() => sseFrame('a\r', 'x')).toThrow(/CR or LF/);
    expect(() => sseComment('x\ny')).toThrow(/CR or LF/);
    expect(sseComment('ping')).toBe(': ping\n\n');
  });
});
