import { describe, expect, it } from 'vitest';
import { anthropicAdapter, openaiAdapter } from '../../src/providers/index.ts';
import { CallAbort } from '../../src/upstream/abort.ts';
import type { UpstreamBody } from '../../src/upstream/client.ts';
import { upstreamBatches, type UpstreamEvent } from '../../src/upstream/events.ts';
import { upstreamEvents } from './flat-events.ts';

/**
 * An in-memory upstream body: the given reads, then the end. A read given as an array is several
 * chunks that arrived together (undici's HTTP chunks of one socket read): the first comes from the
 * iterator, the rest from readNow().
 */
function body(reads: (string | string[])[]): UpstreamBody & { cancelled: boolean } {
  const enc = (c: string) => new TextEncoder().encode(c);
  let queued: string[] = [];
  const b = {
    cancelled: false,
    async *[Symbol.asyncIterator]() {
      for (const r of reads) {
        const [first, ...rest] = typeof r === 'string' ? [r] : r;
        queued = rest;
        yield enc(first!);
      }
    },
    readNow() {
      const c = queued.shift();
      return c === undefined ? undefined : enc(c);
    },
    cancel() {
      b.cancelled = true;
    },
    text: async () => reads.flat().join(''),
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

describe('upstreamBatches: a network read’s events together', () => {
  const types = (bs: UpstreamEvent[][]) => bs.map((b) => b.map((e) => (e.type === 'delta' ? e.text : e.type)));
  const collectBatches = async (it: AsyncIterable<UpstreamEvent[]>) => {
    const out: UpstreamEvent[][] = [];
    for await (const b of it) out.push(b);
    return out;
  };

  it('yields one batch per read that completed frames, in order; a read with no whole frame yields none', async () => {
    const frames = [chunk({ role: 'assistant', content: '' }), chunk({ content: 'a' }), chunk({ content: 'b' }), chunk({ content: 'c' }), chunk({}, 'stop'), 'data: [DONE]\n\n'];
    const split = frames[3]!.length >> 1;
    const reads = [frames[0]! + frames[1]! + frames[2]!, frames[3]!.slice(0, split), frames[3]!.slice(split), frames[4]! + frames[5]!];
    const batches = await collectBatches(upstreamBatches(body(reads), openaiAdapter.createStreamParser(openai), 'openai'));
    expect(types(batches)).toEqual([['open', 'a', 'b'], ['c'], ['finish']]);
  });

  it('takes every chunk already received into the batch: HTTP chunks of one read, a frame split across them', async () => {
    const frames = [chunk({ role: 'assistant', content: '' }), chunk({ content: 'a' }), chunk({ content: 'b' }), chunk({}, 'stop'), 'data: [DONE]\n\n'];
    const split = frames[2]!.length >> 1;
    const reads = [[frames[0]!, frames[1]!, frames[2]!.slice(0, split)], [frames[2]!.slice(split), frames[3]!], frames[4]!];
    const batches = await collectBatches(upstreamBatches(body(reads), openaiAdapter.createStreamParser(openai), 'openai'));
    expect(types(batches)).toEqual([['open', 'a'], ['b', 'finish']]);
  });

  it('ends with the error as the last event of its read, the rest of that read dropped, the body cancelled before the batch is handed over', async () => {
    const err = `data: ${JSON.stringify({ error: { message: 'overloaded', type: 'server_error' } })}\n\n`;
    const b = body([chunk({ content: 'a' }), chunk({ content: 'b' }) + err + chunk({ content: 'late' }), chunk({ content: 'later' })]);
    const gen = upstreamBatches(b, openaiAdapter.createStreamParser(openai), 'openai');
    expect(types([(await gen.next()).value as UpstreamEvent[]])).toEqual([['a', 'open']]);
    const second = (await gen.next()).value as UpstreamEvent[];
    expect(types([second])).toEqual([['b', 'error']]);
    expect(b.cancelled).toBe(true); // a consumer that stops at the error leaves no socket open
    expect((await gen.next()).done).toBe(true);
  });

  it('a body that ends before the terminal event: the cut comes as a batch of its own', async () => {
    const batches = await collectBatches(upstreamBatches(body([chunk({ content: 'a' }) + chunk({ content: 'b' })]), openaiAdapter.createStreamParser(openai), 'openai'));
    expect(types(batches)).toEqual([['a', 'open', 'b'], ['error']]);
    expect(batches[1]![0]).toMatchObject({ type: 'error', error: { cause: 'cut' } });
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
