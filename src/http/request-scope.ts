import type { ServerResponse } from 'node:http';
import type { Container } from '../app/container.ts';
import { REQUEST_ID_RE, newRequestId } from '../lib/ids.ts';
import type { RequestInfo, Surface } from './context.ts';
import type { CompletedRequest } from './observer.ts';
import { PhaseTimer } from './timing.ts';

/**
 * The bookkeeping every request gets, whichever pipeline serves it (the Hono app, or the data
 * plane's fast lane in fast-lane.ts): its id, client address, surface, per-request info, the
 * overhead headers, and the observers (monitor, metrics, access log) once it is done.
 */

export const SEED_PREFIXES = ['/.netlify/functions/', '/api/'];

export function surfaceOf(path: string): Surface {
  if (path.startsWith('/v1/')) return 'openai';
  if (path.startsWith('/admin/')) return 'admin';
  for (const p of SEED_PREFIXES) if (path.startsWith(p)) return 'seed';
  return 'admin';
}

export const isDataPlane = (s: Surface) => s === 'seed' || s === 'openai';

/** The client's request id when it is a sane one, else a new one. */
export const requestIdOf = (sent: string | undefined): string => (sent && REQUEST_ID_RE.test(sent) ? sent : newRequestId());

/**
 * Behind one trusted reverse proxy, the client is the address that proxy appended (the last
 * x-forwarded-for entry); earlier entries are whatever the client sent and cannot be trusted.
 */
export function clientIpOf(trustProxy: boolean, forwardedFor: string | undefined, remote: string | undefined): string {
  const fwd = trustProxy ? forwardedFor?.split(',').pop()?.trim() : undefined;
  return fwd || remote || '127.0.0.1';
}

/** A request's info; data-plane requests that asked for Server-Timing get a phase timer. */
export function newRequestInfo(surface: Surface, serverTimingHeader: string | undefined, t0: number): RequestInfo {
  const info: RequestInfo = { upstreamMs: 0 };
  if (isDataPlane(surface) && serverTimingHeader === '1') info.timing = new PhaseTimer(t0);
  return info;
}

/** x-kaixu-overhead-ms (and Server-Timing when asked) straight onto a Node response not yet sent. */
export function setOverheadHeaders(outgoing: ServerResponse, surface: Surface, info: RequestInfo, overheadMs: number, now: number): void {
  if (!isDataPlane(surface) || outgoing.headersSent) return;
  outgoing.setHeader('x-kaixu-overhead-ms', overheadMs.toFixed(3));
  if (info.timing) outgoing.setHeader('server-timing', info.timing.header(info.upstreamMs, info.settleMs, now));
}

/** What an error answer's monitor event shows of it. */
const preview = (info: RequestInfo) => info.errorMessage?.slice(0, 500);

function notify(c: Container, done: CompletedRequest): void {
  for (const o of c.observers) {
    try {
      o(done);
    } catch {
      /* an observer must never break a response */
    }
  }
}

/**
 * Hands a finished request to the observers. A streamed answer is observed when it ends (its whole
 * duration, a failure after the headers as the error it was; overheadMs stays the time to the
 * headers). On a server, observers run once the response has been handed to the socket: they are
 * bookkeeping, not part of the answer's latency.
 */
export function observeRequest(c: Container, full: CompletedRequest, t0: number, onServer: boolean): void {
  const { info } = full;
  if (full.status >= 400) full.bodyPreview = preview(info);
  if (info.streamDone) {
    void info.streamDone.then(() => {
      full.durationMs = performance.now() - t0;
      if (info.streamErrorStatus !== undefined) full.bodyPreview = preview(info);
      notify(c, full);
    });
  } else if (onServer) setImmediate(notify, c, full);
  else notify(c, full);
}
