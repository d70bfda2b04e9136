import type { CallContext, MonthView } from '../gateway/governance.ts';
import type { Route } from '../lanes/types.ts';
import type { ChatMessage, ProviderAdapter, ProviderKind, Usage } from '../providers/types.ts';
import type { CallAbort } from '../upstream/abort.ts';
import type { UpstreamClient } from '../upstream/client.ts';

/** The slice of the upstream HTTP client the chat service uses (src/upstream/client.ts). */
export type UpstreamPort = Pick<UpstreamClient, 'send'>;

export type AdapterLookup = (kind: ProviderKind) => ProviderAdapter;

/**
 * Per-request facts the HTTP edge wants to know (operation, provider, model, upstream status,
 * time spent waiting on upstreams). Structurally the same fields as http/context RequestInfo,
 * declared here so the domain does not import the HTTP layer.
 */
export interface CallInfo {
  provider?: string;
  model?: string;
  upstreamStatus?: number;
  upstreamMs: number;
  /** Time spent writing the usage record, once settled. */
  settleMs?: number;
  /** performance.now() when that write started. */
  settleAt?: number;
}

/** The normalized request minus routing (model comes from each lane target). */
export interface ChatParams {
  messages: ChatMessage[];
  max_tokens: number;
  temperature?: number;
  top_p?: number;
  stop?: string[];
}

export interface BeginInput {
  /** The call as governance sees it (publicProvider/publicModel: the route's requested names). */
  ctx: CallContext;
  route: Route;
  params: ChatParams;
  stream: boolean;
  /**
   * The call's one abort handle: the HTTP edge trips it when the client goes away, the session
   * when it stops the upstream (cancel, failure); upstream requests take it as their signal.
   */
  abort: CallAbort;
  info: CallInfo;
}

/** Names a response shows: the lane's public names when it reports them, else the vendor's. */
export interface ReportedNames {
  provider: string;
  model: string;
  /** What the client asked for, present when a lane answered. */
  requested_provider?: string;
  requested_model?: string;
}

export interface ChatUsage {
  input_tokens: number;
  output_tokens: number;
  cost_cents: number;
}

export interface ChatOutcome {
  names: ReportedNames;
  text: string;
  usage: ChatUsage;
  month: MonthView;
  /** Vendor finish reason normalized to OpenAI's set (stop, length, content_filter, tool_calls). */
  finish_reason: string;
  usageSource: 'provider' | 'estimated';
}

/**
 * What a committed stream yields: text deltas; `finish` once, as soon as the upstream said why it
 * stopped (OpenAI's set, before its usage and end arrive); then `done` after settling.
 */
export type ChatStreamItem = { type: 'delta'; text: string } | { type: 'finish'; finish_reason: string } | { type: 'done'; outcome: ChatOutcome };

export type { Usage };
