import type { Insertable } from 'kysely';
import type { MonitorEventsTable } from '../storage/types.ts';

export const LEVELS = ['info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];
export const KINDS = ['http_response', 'http_error_response', 'thrown_error', 'client_error'] as const;
export type Kind = (typeof KINDS)[number];

/** A monitor row as queued for writing (id is assigned by the database). */
export type NewMonitorEvent = Omit<Insertable<MonitorEventsTable>, 'id' | 'node_id'>;

/**
 * The parts of a finished request the monitor, metrics and access log read. The HTTP edge's
 * CompletedRequest (http/observer.ts) satisfies it structurally, so this area never imports http/.
 */
export interface ObservedRequest {
  requestId: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  overheadMs: number;
  surface: string;
  info: {
    operation?: string;
    provider?: string;
    model?: string;
    upstreamStatus?: number;
    errorCode?: string;
    errorMessage?: string;
    upstreamMs: number;
    /** Set when a streamed answer failed after its 200 headers: the status the failure maps to. */
    streamErrorStatus?: number;
    /** `fast` when the data plane's fast lane served it (http/fast-lane.ts), else absent. */
    lane?: 'fast';
  };
  auth?: { key: { id: string }; customer: { id: string } };
  app?: string;
  build?: string;
  userAgent?: string;
  ip: string;
  thrown: boolean;
  bodyPreview?: string;
}

export interface MonitorFilter {
  level?: Level;
  kind?: Kind;
  operation?: string;
  app?: string;
  requestId?: string;
  customerId?: string;
  /** created_at ≥ since (epoch ms). */
  since?: number;
  afterId?: number;
}
