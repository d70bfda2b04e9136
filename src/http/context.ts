import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Container } from '../app/container.ts';
import type { AuthContext } from '../keys/auth.ts';
import type { PhaseTimer } from './timing.ts';

/** Which body shape errors take on this route. */
export type Surface = 'seed' | 'openai' | 'admin';

export interface RequestInfo {
  /** Stable operation id (gateway.chat, admin.keys.rotate…) used in logs, metrics and monitor. */
  operation?: string;
  provider?: string;
  model?: string;
  upstreamStatus?: number;
  errorCode?: string;
  errorMessage?: string;
  /** Time spent waiting on upstreams, subtracted for x-kaixu-overhead-ms. */
  upstreamMs: number;
  /** Time spent writing the usage record (a settled call). */
  settleMs?: number;
  /** performance.now() when that write started (a stream's Server-Timing trailer places it). */
  settleAt?: number;
  /** Present when the client asked for a Server-Timing header (see timing.ts). */
  timing?: PhaseTimer;
  /**
   * A streamed answer: settles when its last frame went out (or the client left). Observers then
   * see the whole stream (its duration, a failure after the headers), not just its start.
   */
  streamDone?: Promise<void>;
  /** `fast` when the data plane's fast lane served it (fast-lane.ts); absent when the app did. */
  lane?: 'fast';
  /** The HTTP status a stream's mid-stream failure would have had (the client got 200 and an error frame). */
  streamErrorStatus?: number;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    startedAt: number;
    surface: Surface;
    info: RequestInfo;
    auth?: AuthContext;
    admin?: { actor: string };
    clientIp: string;
  };
}

export type App = OpenAPIHono<AppEnv>;
export type RouteDeps = { app: App; c: Container };
