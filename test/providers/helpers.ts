import { readFileSync } from 'node:fs';
import { SseReader } from '../../src/lib/sse.ts';
import type { StreamEvent, StreamParser, UpstreamTarget, Usage } from '../../src/providers/types.ts';

export const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

/** Runs a whole upstream stream body through framing + the adapter's parser, incl. end(). */
export function parseStream(parser: StreamParser, body: string): StreamEvent[] {
  const reader = new SseReader();
  const out: StreamEvent[] = [];
  for (const ev of [...reader.feed(body), ...reader.flush()]) out.push(...parser.feed(ev));
  out.push(...parser.end());
  return out;
}

/** What a consumer derives from the events: text, merged usage (later values win), finish, error. */
export function summarize(events: StreamEvent[]) {
  let text = '';
  const usage: Partial<Usage> = {};
  let finish: string | null | undefined;
  let error: Extract<StreamEvent, { type: 'error' }>['error'] | undefined;
  for (const e of events) {
    if (e.type === 'delta') text += e.text;
    else if (e.type === 'usage') Object.assign(usage, e.usage);
    else if (e.type === 'finish') finish = e.finish_reason;
    else error = e.error;
  }
  return { text, usage, finish, error };
}

export const target = (kind: UpstreamTarget['kind'], baseUrl: string, apiKey?: string): UpstreamTarget => ({
  kind,
  provider: kind === 'openai-compatible' ? 'groq' : kind,
  baseUrl,
  ...(apiKey ? { apiKey } : {}),
});
