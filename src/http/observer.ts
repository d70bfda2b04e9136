import type { AuthContext } from '../keys/auth.ts';
import type { RequestInfo, Surface } from './context.ts';

/** A finished request, handed to observers (monitor events, metrics) off the response path. */
export interface CompletedRequest {
  requestId: string;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  overheadMs: number;
  surface: Surface;
  info: RequestInfo;
  auth?: AuthContext;
  app?: string;
  build?: string;
  userAgent?: string;
  ip: string;
  thrown: boolean;
  /** Short preview of an error response body (≥ 400). */
  bodyPreview?: string;
}

export type RequestObserver = (r: CompletedRequest) => void;
