import { expect } from 'vitest';
import type { SseEvent, StreamParser } from '../../src/providers/types.ts';

/**
 * Shared by the stream parsers' content-template tests (src/providers/shared/chunk-template.ts):
 * reading a chunk through a learned template must give exactly what parsing it whole gives.
 */

/**
 * Each of `events` fed to a parser that has read `first` (which teaches it the shape) must give
 * what a fresh parser (which has learned nothing and parses every chunk whole) gives. One taught
 * parser per event, as an error ends a parser's stream; then all in one stream, up to the first
 * error.
 */
export function sameAsWhole(make: () => StreamParser, first: SseEvent, events: SseEvent[]): void {
  const fresh = (ev: SseEvent) => make().feed(ev);
  for (const ev of events) {
    const p = make();
    expect(p.feed(first)).toEqual(fresh(first));
    expect({ ev, out: p.feed(ev) }).toEqual({ ev, out: fresh(ev) });
  }
  const p = make();
  p.feed(first);
  for (const ev of events) {
    const whole = fresh(ev);
    if (whole.some((e) => e.type === 'error')) break;
    expect({ ev, out: p.feed(ev) }).toEqual({ ev, out: whole });
  }
}

/** Texts a delta can carry: quotes, escapes, control characters, non-ASCII, and attempts to close the string early. */
export const TEXTS = [
  'Hello',
  ' world',
  '',
  'say "hi"',
  'back\\slash',
  'ends with a backslash \\',
  'line\nbreak\r\ttab',
  '\u0000\u001f controls',
  'é ü 漢字 🙂',
  '\u2028\u2029 separators',
  '</script>',
  '"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1}} injected',
  '"}} injected',
  '\\"',
  '"',
];
