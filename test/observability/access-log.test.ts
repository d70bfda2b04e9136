import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.ts';
import { accessLogObserver } from '../../src/monitor/access-log.ts';
import type { ObservedRequest } from '../../src/monitor/types.ts';

/** A request whose every property read is recorded, to see what the observer touched. */
function spied(status: number): { r: ObservedRequest; reads: string[] } {
  const reads: string[] = [];
  const base: ObservedRequest = {
    requestId: 'req_spy',
    method: 'GET',
    path: '/health',
    status,
    durationMs: 1.23456,
    overheadMs: 0.5,
    surface: 'admin',
    ip: '127.0.0.1',
    thrown: false,
    info: { upstreamMs: 0, operation: 'ops.health' },
  };
  const r = new Proxy(base, {
    get(t, k, recv) {
      reads.push(String(k));
      return Reflect.get(t, k, recv) as unknown;
    },
  });
  return { r, reads };
}

describe('access log observer', () => {
  it('above debug, a successful request costs a level check: no line, no field read beyond status', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
    const { r, reads } = spied(200);
    accessLogObserver(log)(r);
    expect(lines).toEqual([]);
    // status, thrown, and info for a stream's failure after its headers (info.streamErrorStatus).
    expect(reads.filter((k) => k !== 'status' && k !== 'thrown' && k !== 'info')).toEqual([]);
  });

  it('logs errors at info and successes at debug', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
    const observe = accessLogObserver(log);
    observe(spied(200).r);
    observe(spied(503).r);
    const parsed = lines.map((l) => JSON.parse(l) as { level: number; status: number; duration_ms: number; msg: string });
    expect(parsed.map((p) => [p.level, p.status, p.msg])).toEqual([
      [20, 200, 'request'],
      [30, 503, 'request'],
    ]);
    expect(parsed[0]!.duration_ms).toBe(1.235);
  });

  it('logs a stream that failed after its 200 headers at info, with the status the failure maps to', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: { write: (s: string) => void lines.push(s) } });
    const { r } = spied(200);
    Object.assign(r.info, { streamErrorStatus: 502, errorCode: 'UPSTREAM_ERROR', errorMessage: 'openai upstream error 500' });
    accessLogObserver(log)(r);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ level: 30, status: 200, stream_error_status: 502, error_code: 'UPSTREAM_ERROR', error_message: 'openai upstream error 500' }),
    ]);
  });
});
