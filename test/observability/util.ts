import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Poll until `check` returns a truthy value (or throw after `ms`). */
export async function until<T>(check: () => T | Promise<T>, ms = 5_000, step = 10): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, step));
  }
}

/** Run `n` calls of `fn` with at most `conc` in flight. */
export async function pool(n: number, conc: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

export type HealthMode = 'ok' | 'http500' | 'badjson' | 'dbdown' | 'hang';

/** A stand-in for a gateway's /health, switchable between healthy and each failure mode. */
export async function fakeHealth(): Promise<{ url: string; mode: HealthMode; hits: number; close(): Promise<void> }> {
  const state = { mode: 'ok' as HealthMode, hits: 0 };
  const server: Server = createServer((req, res) => {
    state.hits++;
    if (state.mode === 'hang') return; // never answers
    if (state.mode === 'http500') {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"boom"}');
    } else if (state.mode === 'badjson') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
    } else if (state.mode === 'dbdown') {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"ok":false,"db":{"ok":false,"error":"unreachable"}}');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true,"db":{"ok":true}}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  return {
    url,
    get mode() {
      return state.mode;
    },
    set mode(m: HealthMode) {
      state.mode = m;
    },
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
