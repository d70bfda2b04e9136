export type HeartbeatErrorType = 'http' | 'db' | 'parse' | 'timeout' | 'network';

export interface ProbeResult {
  ok: boolean;
  http_status: number | null;
  db_ok: boolean;
  response_ms: number | null;
  error: string | null;
  error_type: HeartbeatErrorType | null;
}

export interface ProbeDeps {
  /** The health URL to GET (undefined: not known yet, recorded as a network failure). */
  url?: string;
  timeoutMs: number;
  /** Direct database check; rejects when the database is unreachable. */
  pingDb: () => Promise<unknown>;
  fetch?: typeof fetch;
}

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error('timeout')), ms).unref())]);

/**
 * Probe the gateway as a client sees it (HTTP GET of its health URL, within `timeoutMs`) and the
 * database directly. The first failure found names the error type: timeout / network (no HTTP
 * answer), http (non-2xx/3xx), parse (body is not the health JSON), db (health says the database
 * is down, or the direct check fails).
 */
export async function probeHealth(d: ProbeDeps): Promise<ProbeResult> {
  const dbCheck = withTimeout(d.pingDb(), d.timeoutMs).then(
    () => true,
    () => false,
  );
  const http = await probeHttp(d);
  const directDbOk = await dbCheck;
  const db_ok = directDbOk && http.bodyDbOk !== false;
  if (http.error) return { ok: false, http_status: http.status, db_ok, response_ms: http.ms, error: http.error, error_type: http.type ?? null };
  if (!db_ok) {
    const error = directDbOk ? 'Health reports the database unreachable' : 'Database unreachable';
    return { ok: false, http_status: http.status, db_ok, response_ms: http.ms, error, error_type: 'db' };
  }
  return { ok: true, http_status: http.status, db_ok, response_ms: http.ms, error: null, error_type: null };
}

interface HttpOutcome {
  status: number | null;
  ms: number | null;
  bodyDbOk?: boolean;
  error?: string;
  type?: HeartbeatErrorType;
}

async function probeHttp(d: ProbeDeps): Promise<HttpOutcome> {
  if (!d.url) return { status: null, ms: null, error: 'No heartbeat URL known (set HEARTBEAT_URL)', type: 'network' };
  const t0 = performance.now();
  let res: Response;
  let text: string;
  try {
    res = await (d.fetch ?? fetch)(d.url, { signal: AbortSignal.timeout(d.timeoutMs), headers: { accept: 'application/json', 'user-agent': 'kaixu-heartbeat' } });
    text = await res.text();
  } catch (e) {
    const ms = Math.round(performance.now() - t0);
    const name = (e as Error)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') return { status: null, ms, error: `No answer within ${d.timeoutMs} ms`, type: 'timeout' };
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return { status: null, ms, error: `Request failed: ${cause?.code ?? cause?.message ?? (e as Error).message}`, type: 'network' };
  }
  const ms = Math.round(performance.now() - t0);
  let body: { db?: { ok?: unknown } } | undefined;
  try {
    body = JSON.parse(text) as { db?: { ok?: unknown } };
  } catch {
    body = undefined;
  }
  const bodyDbOk = body?.db && typeof body.db.ok === 'boolean' ? body.db.ok : undefined;
  // A 503 whose body says "database down" is a database failure, not an HTTP one.
  if (bodyDbOk === false) return { status: res.status, ms, bodyDbOk };
  if (res.status >= 400) return { status: res.status, ms, bodyDbOk, error: `Health returned HTTP ${res.status}`, type: 'http' };
  if (!body || typeof body !== 'object') return { status: res.status, ms, error: 'Health body is not JSON', type: 'parse' };
  return { status: res.status, ms, bodyDbOk };
}
