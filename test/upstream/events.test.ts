import { describe, expect, it } from 'vitest';
import { anthropicAdapter, openaiAdapter } from '../../src/providers/index.ts';
import { CallAbort } from '../../src/upstream/abort.ts';
import type { UpstreamBody } from '../../src/upstream/client.ts';
import { upstreamEvents, type UpstreamEvent } from '../../src/upstream/events.ts';

/** An in-memory upstream body: the given chunks, then the end. */
function body(chunks: string[]): UpstreamBody & { cancelled: boolean } {
  const b = {
    cancelled: false,
    async *[Symbol.asyncIterator]() {
      for (const c of chunks) yield new TextEncoder().encode(c);
    },
    cancel() {
      b.cancelled = true;
    },
    text: async () => chunks.join(''),
  };
  return b;
}

async function collect(it: AsyncIterable<UpstreamEvent>): Promise<UpstreamEvent[]> {
  const out: UpstreamEvent[] = [];
  for await (const ev of it) out.push(ev);
  return out;
}

const openai = { kind: 'openai' as const, provider: 'openai', baseUrl: 'http://x' };
const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

describe('upstreamEvents: the "open" marker a stream commits on', () => {
  it('comes once, right after the first good frame, even one that carries no text (OpenAI role chunk)', async () => {
    const events = await collect(
      upstreamEvents(body([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hi' }), chunk({ content: '!' }), chunk({}, 'stop'), 'data: [DONE]\n\n']), openaiAdapter.createStreamParser(openai), 'openai'),
    );
    expect(events.map((e) => e.type)).toEqual(['open', 'delta', 'delta', 'finish']);
  });

  it('follows the events of a first frame that has some (Anthropic message_start usage)', async () => {
    const anthropic = { kind: 'anthropic' as const, provider: 'anthropic', baseUrl: 'http://x' };
    const start = `event: message_start\ndata: ${JSON.stringify({ type: 'message_start', message: { id: 'm', usage: { input_tokens: 7, output_tokens: 1 } } })}\n\n`;
    const events = await collect(upstreamEvents(body([start]), anthropicAdapter.createStreamParser(anthropic), 'anthropic'));
    expect(events.map((e) => e.type)).toEqual(['usage', 'open', 'error']);
  });

  it('never comes when the first frame is an error (the attempt may still fall back)', async () => {
    const b = body([`data: ${JSON.stringify({ error: { message: 'overloaded', type: 'server_error' } })}\n\n`, chunk({ content: 'late' })]);
    const events = await collect(upstreamEvents(b, openaiAdapter.createStreamParser(openai), 'openai'));
    expect(events).toEqual([{ type: 'error', error: expect.objectContaining({ retryable: true, message: 'overloaded' }) }]);
    expect(b.cancelled).toBe(true);
  });
});

describe('CallAbort', () => {
  it('fires its listeners once, reports aborted, and runs late subscribers at once', () => {
    const a = new CallAbort();
    const seen: string[] = [];
    const off = a.onAbort(() => seen.push('kept'));
    a.onAbort(() => seen.push('second'))();
    expect(a.aborted).toBe(false);
    a.abort();
    a.abort();
    expect(a.aborted).toBe(true);
    expect(seen).toEqual(['kept']);
    off();
    a.onAbort(() => seen.push('late'));
    expect(seen).toEqual(['kept', 'late']);
  });
});
