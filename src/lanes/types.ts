import type { ProviderKind, UpstreamTarget } from '../providers/types.ts';

export interface UpstreamTimeouts {
  connectMs: number;
  firstByteMs: number;
  idleMs: number;
}

/** One reachable upstream: where it is, how to authenticate, and its timeouts. */
export interface Upstream {
  name: string;
  kind: ProviderKind;
  /** Built from config (openai, anthropic, gemini) rather than registered by the admin. */
  builtin: boolean;
  /** Built-ins need their API key; registered upstreams may be keyless (local Ollama, vLLM). */
  configured: boolean;
  active: boolean;
  target: UpstreamTarget;
  timeouts: UpstreamTimeouts;
}

/** Admin-facing view: credentials never leave the server, only whether they are set. */
export interface UpstreamView {
  name: string;
  kind: ProviderKind;
  builtin: boolean;
  base_url: string;
  has_api_key: boolean;
  header_names: string[];
  connect_timeout_ms: number | null;
  first_byte_timeout_ms: number | null;
  idle_timeout_ms: number | null;
  is_active: boolean;
  configured: boolean;
  created_at: string | null;
  updated_at: string | null;
}

export interface LaneTarget {
  provider: string;
  model: string;
}

export interface Lane {
  id: string;
  /** Public provider name the client sends (e.g. `kaixu`). */
  provider: string;
  /** Public model name the client sends (e.g. `kaixu-chat`). */
  model: string;
  targets: LaneTarget[];
  /** Responses show the public names instead of the vendor's. */
  report_public: boolean;
  /** Display name for the provider in responses when report_public (e.g. `kAIxu`); defaults to `provider`. */
  display_provider: string | null;
  is_active: boolean;
  created_at: number;
  updated_at: number;
}

/** A resolved call route: what the client asked for, what to try, and what to report. */
export interface Route {
  requested: { provider: string; model: string };
  lane: Lane | null;
  targets: LaneTarget[];
}
