import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { parseSse, type SseFrame } from './harness.ts';

/** A raw HTTP client for streaming tests: real sockets, explicit reads, explicit disconnects. */
export interface RawStream {
  req: ClientRequest;
  res: IncomingMessage;
  /** Everything received so far. */
  text(): string;
  frames(): SseFrame[];
  /** Arrival time (performance.now) of each received chunk, with its text. */
  chunks: { at: number; text: string }[];
  /** Resolves when the predicate over the received frames holds. */
  until(pred: (frames: SseFrame[]) => boolean, timeoutMs?: number): Promise<SseFrame[]>;
  ended: Promise<void>;
  /** Close the connection abruptly (a client that went away). */
  destroy(): number;
}

export function postStream(base: string, path: string, body: unknown, headers: Record<string, string>, opts: { paused?: boolean } = {}): Promise<RawStream> {
  const u = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let buf = '';
      const chunks: RawStream['chunks'] = [];
      const waiters = new Set<() => void>();
      res.setEncoding('utf8');
      if (opts.paused) res.pause();
      res.on('data', (d: string) => {
        buf += d;
        chunks.push({ at: performance.now(), text: d });
        for (const w of waiters) w();
      });
      const ended = new Promise<void>((r) => {
        res.on('end', () => r());
        res.on('close', () => r());
        res.on('error', () => r());
      });
      resolve({
        req,
        res,
        chunks,
        text: () => buf,
        frames: () => parseSse(buf),
        ended,
        until(pred, timeoutMs = 5_000) {
          return new Promise((ok, fail) => {
            const check = () => {
              const f = parseSse(buf);
              if (pred(f)) {
                waiters.delete(check);
                clearTimeout(timer);
                ok(f);
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`condition not met within ${timeoutMs} ms; got: ${buf.slice(0, 500)}`));
            }, timeoutMs);
            waiters.add(check);
            check();
          });
        },
        destroy() {
          const at = Date.now();
          req.destroy();
          res.destroy();
          return at;
        },
      });
    });
    req.on('error', (e) => {
      if (!req.destroyed) reject(e);
    });
    req.end(JSON.stringify(body));
  });
}
