import { describe, expect, it, vi } from 'vitest';
import { ContentTemplate } from '../../src/providers/shared/chunk-template.ts';
import { openaiAdapter } from '../../src/providers/index.ts';
import type { SseEvent } from '../../src/providers/types.ts';
import { sameAsWhole as sameAsWholeFor, TEXTS } from './template-equivalence.ts';

/**
 * The content-chunk template of the OpenAI stream parser (src/providers/shared/chunk-template.ts):
 * whatever a chunk holds, reading it through the template must give exactly what parsing it whole
 * gives. The reference is a fresh parser per chunk, which has learned nothing and parses every
 * chunk whole.
 */

const openai = { kind: 'openai' as const, provider: 'openai', baseUrl: 'http://x' };
const MARKER = '"delta":{"content":"';
const head = '{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":';
const tail = '},"logprobs":null,"finish_reason":null}],"usage":null}';
/** A content chunk as OpenAI writes it, the text JSON-encoded by JSON.stringify. */
const content = (text: string) => `${head}${JSON.stringify(text)}${tail}`;
/** The same with the text's JSON body given raw (escapes as another encoder might write them, or invalid on purpose). */
const rawContent = (body: string) => `${head}"${body}"${tail}`;

const fresh = (ev: SseEvent) => openaiAdapter.createStreamParser(openai).feed(ev);
/** The whole parse's one delta text, as the parser hands it to ContentTemplate.learn. */
const reads = (data: string) => {
  const out = fresh({ data });
  return out.length === 1 && out[0]!.type === 'delta' ? out[0]!.text : undefined;
};

/** sameAsWhole on this parser, taught by a chunk given as its data. */
const sameAsWhole = (first: string, events: SseEvent[]) => sameAsWholeFor(() => openaiAdapter.createStreamParser(openai), { data: first }, events);

describe('OpenAI content-chunk template', () => {
  it('reads every text a content chunk can carry exactly as the whole parse does', () => {
    sameAsWhole(
      content('first'),
      TEXTS.map((t) => ({ data: content(t) })),
    );
  });

  it('once taught, reads a plain text without parsing the chunk, and an escaped one from its text alone', () => {
    const p = openaiAdapter.createStreamParser(openai);
    p.feed({ data: content('first') });
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(p.feed({ data: content('plain text') })).toEqual([{ type: 'delta', text: 'plain text' }]);
      expect(parse).not.toHaveBeenCalled();
      expect(p.feed({ data: content('say "hi"\n') })).toEqual([{ type: 'delta', text: 'say "hi"\n' }]);
      expect(parse.mock.calls).toEqual([['"say \\"hi\\"\\n"']]);
    } finally {
      parse.mockRestore();
    }
  });

  it('takes other encoders’ escapes (\\u, \\/), and rejects invalid bodies as the whole parse does (malformed)', () => {
    const bodies = ['caf\\u00e9', '\\/path', '\\ud83d\\ude42', 'a"b', 'raw\nnewline', 'bad \\x escape', 'trailing \\', '\\u12'];
    sameAsWhole(
      content('first'),
      bodies.map((b) => ({ data: rawContent(b) })),
    );
    // One of them, spelled out: an unescaped quote in the text makes the chunk malformed, not a shorter text.
    const p = openaiAdapter.createStreamParser(openai);
    p.feed({ data: content('first') });
    expect(p.feed({ data: rawContent('a"b') })).toEqual([{ type: 'error', error: expect.objectContaining({ message: expect.stringContaining('stream chunk') }) }]);
  });

  it('leaves every other chunk to the whole parse: finish, usage, role, errors, another id, obfuscation, spacing, [DONE]', () => {
    const chunks: SseEvent[] = [
      { data: content('x').replace('"finish_reason":null', '"finish_reason":"stop"') },
      // The same length as the template's tail, so only the tail's bytes tell it apart.
      { data: content('x').replace('"finish_reason":null', '"finish_reason":"ok"') },
      { data: content('x').replace('"usage":null', '"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}') },
      { data: content('x').replace('"delta":{"content":', '"delta":{"role":"assistant","content":') },
      { data: content('x').replace('chatcmpl-123', 'chatcmpl-456') },
      // The same length as the template's head, so only the head's bytes tell it apart: an error chunk.
      { data: content('x').replace('"model":', '"error":') },
      { data: content('x').replace('"usage":null}', '"usage":null,"obfuscation":"Qx7"}') },
      { data: content('x').replace('"content":"x"', '"content": "x"') },
      { data: content('x').replace('"choices":[{', '"choices":[{"index":1,"delta":{"content":"y"},"logprobs":null,"finish_reason":null},{') },
      { data: `{"error":{"message":"overloaded","type":"server_error"},${content('x').slice(1)}` },
      { event: 'error', data: content('x') },
      { data: content('still the template') },
    ];
    sameAsWhole(content('first'), chunks);
    // And [DONE] ends the stream: nothing after it, template or not.
    const p = openaiAdapter.createStreamParser(openai);
    p.feed({ data: content('first') });
    expect(p.feed({ data: '[DONE]' })).toEqual([]);
    expect(p.feed({ data: content('late') })).toEqual([]);
  });

  it('learns the text’s place from the first marker when the parse reads it there; never from the role chunk', () => {
    const t = new ContentTemplate(MARKER);
    t.learn(content('Hi'), 'Hi', reads);
    expect(t.match(content('there'))).toBe('there');
    expect(t.match(content('x').replace('chatcmpl-123', 'chatcmpl-9'))).toBeUndefined();
    // A text with escapes teaches the same template (its closing quote found past the escaped ones).
    t.learn(content('say "hi" \\'), 'say "hi" \\', reads);
    expect(t.match(content('there'))).toBe('there');
    // Two choices: the template sits on the first's text, the one the parse reads.
    const two = (a: string, b: string) => content(b).replace('"choices":[{', `"choices":[{"index":1,"delta":{"content":"${a}"},"logprobs":null,"finish_reason":null},{`);
    t.learn(two('a', 'b'), 'a', reads);
    expect(t.match(two('changed', 'b'))).toBe('changed');
    expect(t.match(two('a', 'changed'))).toBeUndefined();
    expect(t.match(content('there'))).toBeUndefined();
    // A text that does not read back as the parse's: no template (a template of its own, with tries left).
    const u = new ContentTemplate(MARKER);
    u.learn(content('Hi'), 'Ho', reads);
    expect(u.match(content('there'))).toBeUndefined();
    // The role chunk's empty content yields no delta, so the parser never learns from it.
    const p = openaiAdapter.createStreamParser(openai);
    const role = content('').replace('"delta":{"content":', '"delta":{"role":"assistant","content":');
    expect(p.feed({ data: role })).toEqual([]);
    expect(p.feed({ data: content('a') })).toEqual([{ type: 'delta', text: 'a' }]);
  });

  it('keeps no template when the marker’s first place is not the field the parse reads (marker twice, one choice)', () => {
    // The first marker is not the delta the parse reads: a template there would read the wrong text.
    const twice = (x: string, text: string) => `{"id":"c","choices":[{"index":0,"extra":{"delta":{"content":"${x}"}},"delta":{"content":"${text}"}}]}`;
    sameAsWhole(twice('a', 'a'), [{ data: twice('zzz', 'a') }, { data: twice('a', 'b') }]);
  });

  it('keeps no template when the marker sits in a choice the parse does not read', () => {
    // The parse reads choice 0 (its role key first, so no marker there); the marker is in choice 1.
    const two = (a: string, b: string) =>
      `{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"${a}"},"finish_reason":null},{"index":1,"delta":{"content":"${b}"},"finish_reason":null}]}`;
    sameAsWhole(two('a', 'a'), [{ data: two('a', 'zzz') }]);
  });

  it('keeps no template where the marker is not the field the parse reads, even in one choice', () => {
    // One choice; its delta has role first (no marker there), and a nested object carries the marker
    // with the same text: the probe read through the whole parse tells the two apart.
    const nested = (x: string, text: string) => `{"id":"c","choices":[{"index":0,"extra":{"delta":{"content":"${x}"}},"delta":{"role":"assistant","content":"${text}"},"finish_reason":null}]}`;
    sameAsWhole(nested('a', 'a'), [{ data: nested('zzz', 'a') }, { data: nested('a', 'b') }]);
  });

  it('stops trying to learn after three chunks of no common shape (another id in each)', () => {
    const other = (text: string, id: string) => content(text).replace('chatcmpl-123', id);
    const p = openaiAdapter.createStreamParser(openai);
    for (const [t, id] of [['a', 'x1'], ['b', 'x2'], ['c', 'x3'], ['d', 'same']]) expect(p.feed({ data: other(t, id) })).toEqual([{ type: 'delta', text: t }]);
    const parse = vi.spyOn(JSON, 'parse');
    try {
      // Had it learned from the fourth, this one would match it; it is parsed whole, once.
      expect(p.feed({ data: other('e', 'same') })).toEqual([{ type: 'delta', text: 'e' }]);
      expect(parse.mock.calls).toEqual([[other('e', 'same')]]);
    } finally {
      parse.mockRestore();
    }
  });

  describe('with OpenAI’s stream obfuscation (a last `obfuscation` field, another value in every chunk)', () => {
    const obf = (text: string, o: string) => content(text).replace('"usage":null}', `"usage":null,"obfuscation":"${o}"}`);

    it('reads the text alone whatever the obfuscation value, without parsing the chunk', () => {
      const p = openaiAdapter.createStreamParser(openai);
      p.feed({ data: obf('first', 'Qx7a') });
      const parse = vi.spyOn(JSON, 'parse');
      try {
        expect(p.feed({ data: obf('second', 'zzzzzzzzzzzz') })).toEqual([{ type: 'delta', text: 'second' }]);
        expect(p.feed({ data: obf('', 'k') })).toEqual([]);
        expect(parse).not.toHaveBeenCalled();
      } finally {
        parse.mockRestore();
      }
    });

    it('gives what the whole parse gives for every text and obfuscation value, valid or not, and without the field', () => {
      const events: SseEvent[] = [
        ...TEXTS.map((t, i) => ({ data: obf(t, `o${i}`) })),
        { data: obf('x', 'has \\"escaped\\" quotes') },
        { data: obf('x', 'un"escaped') },
        { data: obf('x', 'raw\ncontrol') },
        { data: obf('x', '') },
        { data: content('no obfuscation field') },
        { data: obf('x', 'o').replace('"finish_reason":null', '"finish_reason":"ok"') },
        { data: obf('x', 'o').replace('"model":', '"error":') },
        { data: `${obf('x', 'o').slice(0, -1)},"later":1}` },
        { data: `${obf('x', 'o').slice(0, -1)}]` },
      ];
      sameAsWhole(obf('first', 'Qx7a'), events);
      // And a template learned without the field does not take chunks with it.
      sameAsWhole(content('first'), [{ data: obf('x', 'o') }, { data: obf('y', 'p') }]);
    });
  });

  it('is per stream: a parser never uses another stream’s template', () => {
    const a = openaiAdapter.createStreamParser(openai);
    a.feed({ data: content('a') });
    const b = openaiAdapter.createStreamParser(openai);
    // b has learned nothing: an invalid body is malformed for it whole, exactly as for a fresh parser.
    expect(b.feed({ data: rawContent('a"b') })).toEqual(fresh({ data: rawContent('a"b') }));
    expect(a.feed({ data: content('b') })).toEqual([{ type: 'delta', text: 'b' }]);
  });
});
