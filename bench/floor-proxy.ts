import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { Pool } from 'undici';

/**
 * The floor: the least a Node proxy can do — node:http in, undici (keep-alive pool) out, bodies
 * streamed both ways, no parsing, no auth, no accounting. Whatever the gateway costs above this
 * is the price of its own work, not of being a Node proxy.
 *
 * Run as a child: `node --import tsx bench/floor-proxy.ts <upstream-origin>`; it reports
 * `{ ready: port }` over IPC (or prints the port without IPC).
 */

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

function forwardable(h: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

export function startFloorProxy(upstreamOrigin: string, port = 0, host = '127.0.0.1'): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const pool = new Pool(upstreamOrigin, { connections: 2048, pipelining: 1, keepAliveTimeout: 60_000 });
  const server = createServer((req, res) => {
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    pool
      .request({ method: req.method as 'POST', path: req.url ?? '/', headers: forwardable(req.headers), body: hasBody ? req : undefined, signal: ac.signal })
      .then(
        (up) => {
          res.writeHead(up.statusCode, forwardable(up.headers));
          pipeline(up.body, res, () => {});
        },
        () => {
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
          res.end('{"error":"upstream unavailable"}');
        },
      );
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => {
    server.listen(port, host, () => {
      resolve({
        server,
        port: (server.address() as AddressInfo).port,
        close: async () => {
          server.closeAllConnections();
          await new Promise<void>((r) => server.close(() => r()));
          await pool.close();
        },
      });
    });
  });
}

const isMain = import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('floor-proxy.ts');
if (isMain) {
  const upstream = process.argv[2];
  if (!upstream) {
    console.error('usage: floor-proxy.ts <upstream-origin> [port]');
    process.exit(2);
  }
  const p = await startFloorProxy(upstream, Number(process.argv[3] ?? 0));
  if (process.send) process.send({ ready: p.port });
  else console.log(`floor proxy on http://127.0.0.1:${p.port} → ${upstream}`);
  process.on('SIGTERM', () => void p.close().then(() => process.exit(0)));
  process.on('disconnect', () => void p.close().then(() => process.exit(0)));
}
