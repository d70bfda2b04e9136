import { createServer, request, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { AddressInfo } from 'node:net';
import { startServer, type RunningServer } from '../../src/app/server.ts';
import { testConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/lib/logger.ts';
import type { AppEnv } from '../../src/http/context.ts';
import { bodyReader } from '../../src/http/middleware/body.ts';
import { readBody } from '../../src/http/node.ts';
import { ADMIN_PASSWORD } from '../helpers/app.ts';
import { DIALECTS, makeTestDb, type TestDb } from '../helpers/db.ts';

/**
 * The HTTP edge over real sockets, where it reads bodies and sets headers on the Node request and
 * response directly (in-process app.request() tests take the fetch path instead).
 */

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One raw HTTP/1.1 request; `chunks` are written one by one (chunked encoding unless content-length is given). */
function send(url: string, method: string, path: string, headers: Record<string, string>, chunks: (string | Buffer)[] = []): Promise<Reply> {
  const u = new URL(path, url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

const json = { 'content-type': 'application/json' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(DIALECTS)('HTTP edge over sockets on %s', (dialect) => {
  let db: TestDb;
  let srv: RunningServer;
  const logs: string[] = [];

  beforeAll(async () => {
    db = await makeTestDb(dialect);
    const config = testConfig({ MAX_BODY_BYTES: '2048', ALLOWED_ORIGINS: 'https://app.example' });
    const logger = createLogger({ level: 'debug', secrets: [config.secrets.adminPassword], destination: { write: (s: string) => void logs.push(s) } });
    srv = await startServer(config, { storage: db.storage, skipMigrations: true, port: 0, host: '127.0.0.1', logger });
  });
  afterAll(async () => {
    await srv?.stop();
    await db?.close();
  });

  it('reads a JSON body off the socket for the validator: answers, strictness, a leading BOM, malformed JSON', async () => {
    const ok = await send(srv.url, 'POST', '/admin/api/login', json, [JSON.stringify({ password: ADMIN_PASSWORD })]);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toMatchObject({ token: expect.any(String) });
    // A body split over several writes (chunked) is read whole.
    const body = JSON.stringify({ password: ADMIN_PASSWORD });
    const split = await send(srv.url, 'POST', '/admin/api/login', json, [body.slice(0, 5), body.slice(5, 12), body.slice(12)]);
    expect(split.status).toBe(200);
    // fetch's Request.text() drops a UTF-8 BOM; so does the socket path.
    const bom = await send(srv.url, 'POST', '/admin/api/login', json, [Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)])]);
    expect(bom.status).toBe(200);
    const extra = await send(srv.url, 'POST', '/admin/api/login', json, [JSON.stringify({ password: ADMIN_PASSWORD, x: 1 })]);
    expect(extra.status).toBe(400);
    expect(JSON.parse(extra.text)).toMatchObject({ error: { code: 'VALIDATION_ERROR' } });
    const broken = await send(srv.url, 'POST', '/admin/api/login', json, ['{"password":']);
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.text)).toMatchObject({ error: { code: 'INVALID_JSON' } });
  });

  it('413 for a declared length over MAX_BODY_BYTES and for a chunked body growing past it; the server keeps serving', async () => {
    const big = 'x'.repeat(3000);
    const declared = await send(srv.url, 'POST', '/admin/api/login', { ...json, 'content-length': String(big.length) }, [big]);
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.text)).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    const chunked = await send(srv.url, 'POST', '/admin/api/login', json, [big.slice(0, 1500), big.slice(1500)]);
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.text)).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect((await send(srv.url, 'GET', '/health', {})).status).toBe(200);
  });

  it('a client that leaves in the middle of its body is no server error', async () => {
    const before = logs.length;
    const u = new URL('/admin/api/login', srv.url);
    await new Promise<void>((resolve) => {
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { ...json, 'content-length': '1000' } });
      req.on('error', () => resolve());
      req.write('{"password":"abc');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    await sleep(100);
    expect(logs.slice(before).filter((l) => l.includes('unhandled error'))).toEqual([]);
    expect((await send(srv.url, 'GET', '/health', {})).status).toBe(200);
  });

  it('sets x-kaixu-request-id (echoing a valid one) and, on the data plane, x-kaixu-overhead-ms — errors included', async () => {
    const health = await send(srv.url, 'GET', '/health', { 'x-request-id': 'client-chosen-id-123' });
    expect(health.headers['x-kaixu-request-id']).toBe('client-chosen-id-123');
    expect(health.headers['x-kaixu-overhead-ms']).toBeUndefined();
    const seed = await send(srv.url, 'POST', '/.netlify/functions/gateway-chat', json, ['{}']);
    expect(seed.status).toBe(401);
    expect(seed.headers['x-kaixu-request-id']).toMatch(/^req_[0-9a-f]{24}$/);
    expect(seed.headers['x-kaixu-overhead-ms']).toMatch(/^\d+\.\d{3}$/);
    expect(JSON.parse(seed.text)).toMatchObject({ request_id: seed.headers['x-kaixu-request-id'] });
  });

  it('CORS headers go onto the Node response for allowed and other origins, answers and errors alike', async () => {
    const ok = await send(srv.url, 'GET', '/health', { origin: 'https://app.example' });
    expect(ok.headers).toMatchObject({ 'access-control-allow-origin': 'https://app.example', vary: 'Origin' });
    expect(ok.headers['access-control-expose-headers']).toContain('x-kaixu-request-id');
    const err = await send(srv.url, 'GET', '/admin/api/customers', { origin: 'https://app.example' });
    expect(err.status).toBe(401);
    expect(err.headers['access-control-allow-origin']).toBe('https://app.example');
    const other = await send(srv.url, 'GET', '/health', { origin: 'https://evil.example' });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers.vary).toBe('Origin');
    const none = await send(srv.url, 'GET', '/health', {});
    expect(none.headers.vary).toBeUndefined();
  });
});

describe('bodyReader on a Node server', () => {
  it('keeps the exact bytes for non-text reads (arrayBuffer, blob), alongside the decoded text', async () => {
    const app = new Hono<AppEnv>();
    app.use('*', bodyReader(1024, (ctx) => ctx.text('too large', 413)));
    app.post('/echo', async (ctx) => {
      const bytes = new Uint8Array(await ctx.req.arrayBuffer());
      const blob = new Uint8Array(await (await ctx.req.blob()).arrayBuffer());
      return ctx.json({ bytes: [...bytes], blob: [...blob], text: await ctx.req.text() });
    });
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((r) => server.once('listening', () => r()));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const raw = Buffer.from([0xff, 0x00, 0x41, 0xc3]);
      const res = await send(url, 'POST', '/echo', { 'content-type': 'application/octet-stream' }, [raw]);
      expect(JSON.parse(res.text)).toEqual({ bytes: [0xff, 0, 0x41, 0xc3], blob: [0xff, 0, 0x41, 0xc3], text: '\ufffd\u0000A\ufffd' });
      expect((await send(url, 'POST', '/echo', {}, ['x'.repeat(2000)])).status).toBe(413);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('readBody', () => {
  /** A raw server whose handler reads the body with readBody once `ready(req)` says so. */
  async function withServer(ready: (req: IncomingMessage) => Promise<void>, max: number, fn: (url: string, seen: { complete: boolean[] }) => Promise<void>) {
    const seen = { complete: [] as boolean[] };
    const server = createServer(async (req, res) => {
      await ready(req);
      seen.complete.push(req.complete);
      const body = await readBody(req, max).catch(() => 'cut' as const);
      res.end(body === 'cut' ? 'cut' : body === null ? 'too large' : `got ${body.length}: ${body.toString('utf8')}`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  }
  const untilComplete = async (req: IncomingMessage) => {
    while (!req.complete) await sleep(1);
  };

  it('a body already buffered whole is taken in one synchronous read, up to the limit; an empty one is empty', async () => {
    await withServer(untilComplete, 16, async (url, seen) => {
      expect((await send(url, 'POST', '/', {}, ['hello ', 'world'])).text).toBe('got 11: hello world');
      expect((await send(url, 'POST', '/', { 'content-length': '0' }, [])).text).toBe('got 0: ');
      expect((await send(url, 'POST', '/', {}, ['x'.repeat(17)])).text).toBe('too large');
      // The connection stays usable after each (the stream was consumed to its end).
      expect((await send(url, 'POST', '/', {}, ['again'])).text).toBe('got 5: again');
      expect(seen.complete).toEqual([true, true, true, true]);
    });
  });

  it('a body still arriving when the handler asks is read as it comes', async () => {
    await withServer(async () => undefined, 64, async (url, seen) => {
      const u = new URL(url);
      const slow = new Promise<string>((resolve, reject) => {
        const req = request({ host: u.hostname, port: u.port, method: 'POST', path: '/', headers: { 'content-length': '10' } }, (res) => {
          let t = '';
          res.on('data', (d: Buffer) => (t += d.toString()));
          res.on('end', () => resolve(t));
        });
        req.on('error', reject);
        req.write('01234');
        setTimeout(() => req.end('56789'), 30);
      });
      expect(await slow).toBe('got 10: 0123456789');
      expect(seen.complete[0]).toBe(false);
    });
  });
});
