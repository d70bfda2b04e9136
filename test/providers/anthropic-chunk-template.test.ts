import { describe, expect, it, vi } from 'vitest';
import { anthropicAdapter } from '../../src/providers/index.ts';
import type { SseEvent } from '../../src/providers/types.ts';
import { sameAsWhole as sameAsWholeFor, TEXTS } from './template-equivalence.ts';

/**
 * The content template in the Anthropic stream parser (src/providers/shared/chunk-template.ts):
 * a block's `content_block_delta` events read from their text alone once one was parsed whole, with
 * exactly the whole parse's result for any event.
 */

const anthropic = { kind: 'anthropic' as const, provider: 'anthropic', baseUrl: 'http://x' };
const make = () => anthropicAdapter.createStreamParser(anthropic);
/** A text delta as Anthropic writes it (external-apis.md), the text JSON-encoded. */
const delta = (text: string, index = 0) => ({ event: 'content_block_delta', data: `{"type":"content_block_delta","index":${index},"delta":{"type":"text_delta","text":${JSON.stringify(text)}}}` });
const raw = (body: string) => ({ event: 'content_block_delta', data: `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${body}"}}` });
const sameAsWhole = (events: SseEvent[]) => sameAsWholeFor(make, delta('first'), events);

describe('Anthropic text-delta template', () => {
  it('reads every text, escaped or not, and rejects invalid bodies, exactly as the whole parse does', () => {
    sameAsWhole([...TEXTS.map((t) => delta(t)), ...['caf\\u00e9', '\\/p', 'a"b', 'raw\nnewline', 'bad \\x', 'trailing \\'].map(raw)]);
  });

  it('leaves every other event to the whole parse: another block, other deltas and events, spacing, no event name', () => {
    sameAsWhole([
      delta('x', 1),
      { event: 'content_block_delta', data: '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\\"a\\":"}}' },
      { event: 'content_block_delta', data: '{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}' },
      { event: 'content_block_delta', data: delta('x').data.replace('"text":"x"', '"text": "x"') },
      { event: 'content_block_delta', data: `${delta('x').data.slice(0, -1)},"extra":1}` },
      { data: delta('x').data },
      { event: 'error', data: delta('x').data },
      { event: 'message_delta', data: '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}' },
      delta('still the template'),
    ]);
  });

  it('once taught, reads a plain text without parsing the event; a new block teaches it again', () => {
    const p = make();
    p.feed(delta('first'));
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(p.feed(delta('plain'))).toEqual([{ type: 'delta', text: 'plain' }]);
      expect(parse).not.toHaveBeenCalled();
      expect(p.feed(delta('next block', 1))).toEqual([{ type: 'delta', text: 'next block' }]);
      parse.mockClear();
      expect(p.feed(delta('more', 1))).toEqual([{ type: 'delta', text: 'more' }]);
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });
});
