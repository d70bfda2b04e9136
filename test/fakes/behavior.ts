/**
 * What a fake upstream does with one request. Tests queue behaviours (`fake.enqueue(...)`); each
 * chat request takes the next one, or the server's default (`{kind:'ok'}` unless set).
 */

/** Pacing and shape shared by every behaviour that answers 200. */
export interface ReplyOptions {
  /** Reply text (default: "Echo: <last user text>"). */
  reply?: string;
  /** Exactly this many content chunks (default: one per word of the reply). */
  chunks?: number;
  /** Stream: frame i is sent i × this many ms after the first, on the fake's own clock (a late frame goes out at once). */
  chunkDelayMs?: number;
  /** Delay before the response headers (ms). */
  firstByteDelayMs?: number;
  /** Extra bytes appended to every content chunk (backpressure tests). */
  padBytes?: number;
  /** Stream only: after this many frames, stop sending but keep the socket open (idle timeout tests). */
  stallAfterFrames?: number;
}

export type FakeBehavior =
  | ({ kind: 'ok' } & ReplyOptions)
  | {
      kind: 'error';
      status: number;
      /** `retry-after` header: seconds, or an HTTP date string. */
      retryAfter?: number | string;
      retryAfterMs?: number;
      /** Gemini: google.rpc.RetryInfo retryDelay, e.g. "2s". */
      retryDelay?: string;
      /** `x-should-retry` header. */
      shouldRetry?: boolean;
      /** Quota exhausted (OpenAI insufficient_quota / Anthropic enforced_spend_limit_reached). */
      quota?: boolean;
      message?: string;
    }
  /** Stream: destroy the socket after N frames. Non-stream: destroy after half the body. */
  | ({ kind: 'cut'; afterFrames?: number } & ReplyOptions)
  /** Non-stream: 200 with a broken JSON body. Stream: after N frames, an unparseable data event. */
  | ({ kind: 'malformed'; afterFrames?: number } & ReplyOptions)
  /** Stream: after N frames, the provider's own mid-stream error event, then end. */
  | ({ kind: 'stream-error'; afterFrames?: number } & ReplyOptions)
  /** Stream: a clean end of body without the provider's terminal event. */
  | ({ kind: 'truncate' } & ReplyOptions)
  /** Accept the request, never send headers. */
  | { kind: 'hang' };

export type ErrorBehavior = Extract<FakeBehavior, { kind: 'error' }>;

/** A parsed chat call, provider-neutral, as the fake needs it to answer. */
export interface FakeChatCall {
  model: string;
  /** Role as the provider names it; `system` for system instructions. */
  messages: { role: string; text: string }[];
  maxTokens: number;
  stream: boolean;
  /** OpenAI: stream_options.include_usage. Others: always true. */
  includeUsage: boolean;
  /** OpenAI: stream obfuscation, on unless stream_options.include_obfuscation is false. Others: never. */
  obfuscate?: boolean;
}

export interface FakeReply {
  pieces: string[];
  text: string;
  inputTokens: number;
  outputTokens: number;
  /** Cut short by max tokens. */
  truncated: boolean;
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/**
 * The fake's own token count: ~4 bytes per token plus 3 per message (like OpenAI's template).
 * Always below the gateway's inputTokensUpperBound, as a real tokenizer's would be.
 */
export function fakeInputTokens(messages: FakeChatCall['messages']): number {
  let n = 3;
  for (const m of messages) n += Math.ceil(utf8(m.text) / 4) + 3;
  return n;
}

/** Deterministic from the request: tests can assert the text and the usage. */
export function makeReply(call: FakeChatCall, opts: ReplyOptions): FakeReply {
  let pieces: string[];
  if (opts.chunks !== undefined) {
    const n = Math.max(1, opts.chunks);
    if (opts.reply !== undefined) {
      const size = Math.ceil(opts.reply.length / n) || 1;
      pieces = Array.from({ length: n }, (_, i) => opts.reply!.slice(i * size, (i + 1) * size));
    } else {
      pieces = Array.from({ length: n }, (_, i) => `t${i} `);
    }
  } else {
    const users = call.messages.filter((m) => m.role === 'user');
    const last = users[users.length - 1]?.text ?? '';
    const text = opts.reply ?? (last ? `Echo: ${last}` : 'Hello from the fake upstream.');
    pieces = text.match(/\s*\S+\s*/g) ?? [text];
  }
  if (opts.padBytes) pieces = pieces.map((p) => p + 'x'.repeat(opts.padBytes!));
  let truncated = false;
  if (pieces.length > call.maxTokens) {
    pieces = pieces.slice(0, call.maxTokens);
    truncated = true;
  }
  return { pieces, text: pieces.join(''), inputTokens: fakeInputTokens(call.messages), outputTokens: pieces.length, truncated };
}

/** Retry hint headers an error behaviour asks for (retry-after, retry-after-ms, x-should-retry). */
export function retryHeaders(b: ErrorBehavior): Record<string, string> {
  const h: Record<string, string> = {};
  if (b.retryAfter !== undefined) h['retry-after'] = String(b.retryAfter);
  if (b.retryAfterMs !== undefined) h['retry-after-ms'] = String(b.retryAfterMs);
  if (b.shouldRetry !== undefined) h['x-should-retry'] = String(b.shouldRetry);
  return h;
}
