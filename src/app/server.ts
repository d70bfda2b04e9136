import { getRequestListener, type ServerType } from '@hono/node-server';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/index.ts';
import { buildApp } from '../http/app.ts';
import { fastLane } from '../http/fast-lane.ts';
import { acquireServeLock } from '../storage/serve-lock.ts';
import { createContainer, type Container, type ContainerOptions } from './container.ts';

export interface RunningServer {
  container: Container;
  server: ServerType;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/**
 * `kaixu serve`: config → container → app → listen → background work.
 * Shutdown is ordered: stop accepting → drain open streams → stop jobs → close pools.
 */
export async function startServer(config: Config, opts: ContainerOptions & { port?: number; host?: string } = {}): Promise<RunningServer> {
  // SQLite: one serving process per database file (its caps and rate limits live in this process).
  const db = config.database;
  const lock = db.kind === 'sqlite' && db.path !== ':memory:' && !opts.storage ? acquireServeLock(db.path) : undefined;
  const container = await createContainer(config, opts).catch((e: unknown) => {
    lock?.release();
    throw e;
  });
  await container.start();
  const app = buildApp(container);
  const server = await new Promise<ServerType>((resolve, reject) => {
    const hostname = opts.host ?? config.HOST;
    const viaApp = getRequestListener(app.fetch, { hostname });
    // The fast lane serves well-formed chat calls (JSON and SSE) itself and hands everything else on.
    const fast = config.HTTP_FAST_LANE ? fastLane(container) : undefined;
    const s = createServer(fast ? (req, res) => fast(req, res, () => void viaApp(req, res)) : viaApp);
    s.listen(opts.port ?? config.PORT, hostname, () => resolve(s));
    // A port in use (or not permitted) is a clear startup error, not an unhandled 'error' event.
    s.once('error', (e: NodeJS.ErrnoException) => {
      const where = `${opts.host ?? config.HOST}:${opts.port ?? config.PORT}`;
      reject(new Error(e.code === 'EADDRINUSE' ? `Port already in use: ${where}` : `Cannot listen on ${where}: ${e.code ?? e.message}`));
    });
  }).catch(async (e: unknown) => {
    await container.close();
    lock?.release();
    throw e;
  });
  const addr = server.address() as AddressInfo;
  const host = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address;
  const url = `http://${host}:${addr.port}`;
  container.heartbeat.useSelfUrl(`${url}/health`);
  if (config.JOBS_ENABLED) container.jobs.start();
  let stopping: Promise<void> | undefined;
  return {
    container,
    server,
    port: addr.port,
    url,
    stop() {
      stopping ??= (async () => {
        // Stop accepting, end live tails (drainSignal), let open streams finish; then
        // container.close() stops the job runner, flushes the monitor queue and closes pools.
        container.beginDrain();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Give open streams a bounded time to finish, then cut them.
          const t = setTimeout(() => (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.(), 5_000);
          t.unref();
          (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
        });
        await container.close();
        lock?.release();
      })();
      return stopping;
    },
  };
}
