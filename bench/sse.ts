/**
 * Incremental scanner for the two SSE dialects the bench reads: OpenAI chat chunks
 * (`data: {…"delta":{"content":…}}`, ends with `data: [DONE]`) and the seed gateway-stream
 * (`event: delta` / `event: done`). It counts content events per network read, which is how the
 * bench sees coalescing: a proxy that buffers delivers several content events in one read.
 */
export type StreamFormat = 'openai' | 'seed';

export class SseCounter {
  private buf = '';
  /** Content events seen so far. */
  content = 0;
  /** Network reads that completed at least one content event. */
  readsWithContent = 0;
  /** Content events that arrived alone in their read (not coalesced with another one). */
  alone = 0;
  /** Largest number of content events completed by a single read. */
  maxPerRead = 0;
  /** The terminal event ([DONE] or `event: done`) was seen. */
  done = false;
  /** An OpenAI chunk with a finish_reason was seen (the seed stream has none). */
  finished = false;
  /** An `error` event or an error chunk was seen. */
  error: string | null = null;

  constructor(private readonly format: StreamFormat) {}

  /** Feed one network read; returns the number of content events it completed. */
  push(chunk: string): number {
    this.buf += chunk;
    let n = 0;
    for (;;) {
      const m = /\r?\n\r?\n/.exec(this.buf);
      if (!m) break;
      const block = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      if (this.isContent(block)) n++;
    }
    if (n > 0) {
      this.content += n;
      this.readsWithContent++;
      if (n === 1) this.alone++;
      if (n > this.maxPerRead) this.maxPerRead = n;
    }
    return n;
  }

  private isContent(block: string): boolean {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    const payload = data.join('\n');
    if (this.format === 'seed') {
      if (event === 'done') this.done = true;
      if (event === 'error') this.error = payload.slice(0, 300);
      return event === 'delta';
    }
    if (event === 'error') {
      this.error = payload.slice(0, 300);
      return false;
    }
    if (payload === '[DONE]') {
      this.done = true;
      return false;
    }
    if (!payload.startsWith('{')) return false;
    try {
      const j = JSON.parse(payload) as { error?: unknown; choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[] };
      if (j.error) this.error = JSON.stringify(j.error).slice(0, 300);
      if (typeof j.choices?.[0]?.finish_reason === 'string') this.finished = true;
      const content = j.choices?.[0]?.delta?.content;
      return typeof content === 'string' && content.length > 0;
    } catch {
      this.error = `malformed chunk: ${payload.slice(0, 120)}`;
      return false;
    }
  }
}
