import type { AuthContext } from '../keys/auth.ts';
import type { ObservedRequest } from '../monitor/types.ts';
import type { RequestInfo, Surface } from './context.ts';

/**
 * A finished request, handed to observers (monitor events, metrics, access log) off the response
 * path. The shape observers read is declared once, in monitor/types.ts (domain code does not import
 * http/); the edge narrows a few fields to its own types.
 */
export interface CompletedRequest extends ObservedRequest {
  surface: Surface;
  info: RequestInfo;
  auth?: AuthContext;
}

export type RequestObserver = (r: CompletedRequest) => void;
