import type { StreamFormat } from './sse.ts';

/** Messages between the orchestrator (run.ts) and the load generator process (load.ts). */

export interface RequestSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Substring a 200 body must contain to count as an answer (cheap sanity check). */
  expect: string;
}

export interface ClosedLoopCmd {
  cmd: 'closed';
  req: RequestSpec;
  concurrency: number;
  durationMs: number;
  /** Also return this response header of every successful request (e.g. server-timing). */
  collectHeader?: string;
}

export interface ClosedLoopResult {
  /** Latency of every successful request, ns. */
  latNs: number[];
  /** The `collectHeader` values, when asked for. */
  collected?: string[];
  errors: number;
  firstError: string | null;
  elapsedNs: number;
}

export interface StreamCmd {
  cmd: 'stream';
  req: RequestSpec;
  format: StreamFormat;
  /** Streams back to back for this long, `concurrency` at a time (default 1: one after another). */
  durationMs: number;
  concurrency?: number;
  expectChunks: number;
  /** Also return this response header of every stream (e.g. server-timing). */
  collectHeader?: string;
}

export interface OneStream {
  /** First body byte. */
  ttfbNs: number;
  /** First content chunk (time to first token). */
  ttftNs: number;
  /** Last content chunk. */
  lastNs: number;
  /** The chunk with the finish reason (OpenAI format; 0 when none came). */
  finishNs: number;
  /** End of the response (after the terminal event). */
  totalNs: number;
  content: number;
  readsWithContent: number;
  /** Content chunks that arrived alone in their network read. */
  alone: number;
  maxPerRead: number;
  complete: boolean;
  /** The asked-for response header, when present. */
  header?: string;
}

export interface StreamResult {
  streams: OneStream[];
  errors: number;
  firstError: string | null;
  elapsedNs: number;
}

export interface ManyStreamsCmd {
  cmd: 'many';
  req: RequestSpec;
  format: StreamFormat;
  n: number;
  expectChunks: number;
  /** Open the streams in batches (a listen backlog is finite), e.g. 100 every 20 ms. */
  rampBatch: number;
  rampGapMs: number;
  timeoutMs: number;
}

export interface ManyStreamsResult {
  completed: number;
  failed: number;
  firstError: string | null;
  /** Most streams open at the same moment (as seen by the client). */
  peakOpen: number;
  elapsedNs: number;
  ttfbNs: number[];
}

export type LoadCmd = ClosedLoopCmd | StreamCmd | ManyStreamsCmd;
export type LoadRequest = LoadCmd & { id: number };
export type LoadReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
