/**
 * The provider seam. An adapter is a pure, typed transform (no I/O, no logging):
 * normalized request → upstream HTTP request; upstream body/stream → normalized text and usage;
 * upstream error → a classified ProviderError. The upstream client (src/upstream/) does the I/O.
 */

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** The normalized chat request every surface (seed, /v1) is turned into. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  /** Always set: the gateway sends an explicit output bound upstream (caps reserve against it). */
  max_tokens: number;
  temperature?: number;
  top_p?: number;
  stop?: string[];
  stream: boolean;
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
}

export interface ChatResult {
  text: string;
  /** null when the upstream did not report usage. */
  usage: Usage | null;
  finish_reason: string | null;
  upstream_id?: string;
}

/** Where and how to reach one upstream (configured base URL and credential). */
export interface UpstreamTarget {
  /** Adapter kind: openai | anthropic | gemini | openai-compatible */
  kind: ProviderKind;
  /** Registered provider name (openai, anthropic, gemini, or an admin-registered name like "groq"). */
  provider: string;
  baseUrl: string;
  apiKey?: string;
  /** Extra static headers (e.g. OpenRouter's HTTP-Referer). */
  headers?: Record<string, string>;
}

export type ProviderKind = 'openai' | 'anthropic' | 'gemini' | 'openai-compatible';

export interface HttpRequestSpec {
  method: 'POST';
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A normalized upstream failure. `retryable` drives lane fallback (never message strings). */
export interface ProviderError {
  provider: string;
  /** Upstream HTTP status, or 0 for connection/timeout errors. */
  status: number;
  retryable: boolean;
  /** From Retry-After / retry-after-ms / Gemini RetryInfo, when present. */
  retryAfterMs?: number;
  /** Upstream's error type (rate_limit_error, overloaded_error, RESOURCE_EXHAUSTED…). */
  type?: string;
  message: string;
  /** timeout kinds and connection failures set this instead of status. */
  cause?: 'connect' | 'first_byte' | 'idle' | 'network' | 'malformed' | 'cut';
}

/** One parsed SSE event from the generic reader. */
export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
}

export type StreamEvent =
  | { type: 'delta'; text: string }
  /** Usage as far as known; later events may raise it (Anthropic message_delta is cumulative). */
  | { type: 'usage'; usage: Partial<Usage> }
  | { type: 'finish'; finish_reason: string | null }
  | { type: 'error'; error: ProviderError };

export interface StreamParser {
  /** Feed one SSE event; returns zero or more normalized events. */
  feed(ev: SseEvent): StreamEvent[];
  /** The upstream body ended; returns trailing events (an error if the stream was cut before its terminal event). */
  end(): StreamEvent[];
}

export interface ProviderAdapter {
  readonly kind: ProviderKind;
  buildRequest(req: ChatRequest, target: UpstreamTarget): HttpRequestSpec;
  parseResponse(body: string, target: UpstreamTarget): ChatResult | ProviderError;
  parseError(status: number, headers: Record<string, string>, body: string, target: UpstreamTarget): ProviderError;
  createStreamParser(target: UpstreamTarget): StreamParser;
}
