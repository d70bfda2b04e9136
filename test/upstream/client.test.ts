import { getEventListeners, once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openaiAdapter } from '../../src/providers/index.ts';
import type { ChatRequest, StreamEvent } from '../../src/providers/types.ts';
import { CallAbort } from '../../src/upstream/abort.ts';
import { isUpstreamError, UpstreamClient, type UpstreamError } from '../../src/upstream/client.ts';
import { upstreamEvents } from './flat-events.ts';
import { startFakeOpenAI, type FakeUpstream } from '../fakes/index.ts';

const TIMEOUTS = { connectTimeoutMs: 500, firstByteTimeoutMs: 300, idleTimeoutMs: 300 };
const chat = (stream: boolean): ChatRequest => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ping' }], max_tokens: 100, stream });

async function rejection(p: Promise<unknown>): Promise<UpstreamError> {
  try {
    await p;
  } catch (e) {
    if (isUpstreamError(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('UpstreamClient against the fake OpenAI', () => {
  let fake: FakeUpstream;
  let client: UpstreamClient;
  const target = () => ({ kind: 'openai' as const, provider: 'openai', baseUrl: fake.baseUrl, apiKey: fake.apiKey });
  const send = (stream: boolean, signal = new AbortController().signal) =>
    client.send(openaiAdapter.buildRequest(chat(stream), target()), { ...TIMEOUTS, signal, provider: 'openai' });

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    client = new UpstreamClient();
  });
  afterEach(() => fake.reset());
  afterAll(async () => {
    await client.destroy();
    await fake.close();
  });

  it('sends the request and reuses one keep-alive connection', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await send(false);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/json');
      expect(res.headers['x-request-id']).toMatch(/^req_/);
      expect(JSON.parse(await res.body.text()).choices[0].message.content).toBe('Echo: ping');
    }
    expect(fake.requests).toHaveLength(3);
    expect(fake.requests[0].headers.authorization).toBe(`Bearer ${fake.apiKey}`);
    expect(fake.requests.every((r) => r.socketClosedAt === undefined)).toBe(true);
  });

  it('streams body chunks as they arrive', async () => {
    fake.enqueue({ kind: 'ok', chunks: 5, chunkDelayMs: 20 });
    const res = await send(true);
    const arrivals: number[] = [];
    for await (const _ of res.body) arrivals.push(Date.now());
    expect(arrivals.length).toBeGreaterThanOrEqual(5);
    expect(arrivals[arrivals.length - 1] - arrivals[0]).toBeGreaterThanOrEqual(80);
  });

  it('readNow hands over the chunks already received without waiting, and nothing when none is', async () => {
    // All frames written at once: one socket read on loopback, one HTTP chunk each for undici.
    fake.enqueue({ kind: 'ok', chunks: 20, chunkDelayMs: 0, firstByteDelayMs: 50 });
    const res = await send(true);
    const it = res.body[Symbol.asyncIterator]();
    const first = await it.next();
    const dec = new TextDecoder();
    let text = dec.decode(first.value as Uint8Array, { stream: true });
    let together = 1;
    for (let c = res.body.readNow(); c !== undefined; c = res.body.readNow()) {
      together++;
      text += dec.decode(c, { stream: true });
    }
    expect(together).toBeGreaterThan(5);
    expect(res.body.readNow()).toBeUndefined();
    for (let r = await it.next(); !r.done; r = await it.next()) text += dec.decode(r.value, { stream: true });
    // Nothing lost or reordered between the two ways of reading.
    expect(text.split('\n\n').filter((f) => f.startsWith('data: {')).length).toBe(23);
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('first-byte timeout: a hanging upstream → cause first_byte, socket closed', async () => {
    fake.enqueue({ kind: 'hang' });
    const t0 = Date.now();
    const e = await rejection(send(false));
    expect(e.error).toMatchObject({ provider: 'openai', status: 0, cause: 'first_byte', retryable: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(Date.now() - t0).toBeLessThan(2_000);
    await fake.waitForSocketClose(fake.last()!, 1_000);
  });

  it('idle timeout: a stream that stalls → the body iteration fails with cause idle', async () => {
    fake.enqueue({ kind: 'ok', chunks: 10, stallAfterFrames: 2 });
    const res = await send(true);
    const events: StreamEvent[] = [];
    for await (const ev of upstreamEvents(res.body, openaiAdapter.createStreamParser(target()), 'openai')) if (ev.type !== 'open') events.push(ev);
    expect(events.filter((e) => e.type === 'delta').length).toBe(1);
    expect(events[events.length - 1]).toEqual({ type: 'error', error: expect.objectContaining({ cause: 'idle', status: 0 }) });
    await fake.waitForSocketClose(fake.last()!, 1_000);
  });

  it('aborting mid-stream closes the upstream socket within 100 ms', async () => {
    fake.enqueue({ kind: 'ok', chunks: 20, chunkDelayMs: 50 });
    const ac = new AbortController();
    const res = await send(true, ac.signal);
    let n = 0;
    let abortedAt = 0;
    const e = await rejection(
      (async () => {
        for await (const _ of res.body) {
          if (++n === 2) {
            abortedAt = Date.now();
            ac.abort();
          }
        }
      })(),
    );
    expect(e.error).toMatchObject({ type: 'aborted', retryable: false, status: 0 });
    const closedAt = await fake.waitForSocketClose(fake.last()!, 1_000);
    expect(closedAt - abortedAt).toBeLessThan(100);
    expect(fake.last()!.completed).toBe(false);
    expect(fake.last()!.framesSent).toBeLessThan(20);
  });

  it('aborting before the headers closes the socket within 100 ms', async () => {
    fake.enqueue({ kind: 'hang' });
    const ac = new AbortController();
    const p = rejection(client.send(openaiAdapter.buildRequest(chat(false), target()), { ...TIMEOUTS, firstByteTimeoutMs: 10_000, signal: ac.signal }));
    const rec = await fake.nextRequest();
    const abortedAt = Date.now();
    ac.abort();
    expect((await p).error.type).toBe('aborted');
    expect((await fake.waitForSocketClose(rec, 1_000)) - abortedAt).toBeLessThan(100);
  });

  it('an already-aborted signal never reaches the upstream', async () => {
    const ac = new AbortController();
    ac.abort();
    const n = fake.requests.length;
    expect((await rejection(send(false, ac.signal))).error.type).toBe('aborted');
    expect(fake.requests.length).toBe(n);
  });

  it('cancel() closes the upstream socket', async () => {
    fake.enqueue({ kind: 'ok', chunks: 20, chunkDelayMs: 50 });
    const res = await send(true);
    const it = res.body[Symbol.asyncIterator]();
    await it.next();
    const at = Date.now();
    res.body.cancel();
    expect((await fake.waitForSocketClose(fake.last()!, 1_000)) - at).toBeLessThan(100);
  });

  it('leaving a for-await loop over the body early closes the upstream socket, as cancel() does', async () => {
    fake.enqueue({ kind: 'ok', chunks: 20, chunkDelayMs: 50 });
    const res = await send(true);
    let seen = 0;
    for await (const _ of res.body) if (++seen === 1) break;
    const at = Date.now();
    expect((await fake.waitForSocketClose(fake.last()!, 1_000)) - at).toBeLessThan(100);
    expect(seen).toBe(1);
    expect((await rejection(res.body[Symbol.asyncIterator]().next())).error.message).toBe('upstream body cancelled');
  });

  it('a slow reader applies backpressure instead of buffering the whole stream', async () => {
    fake.enqueue({ kind: 'ok', chunks: 100, padBytes: 256 * 1024 });
    const res = await send(true);
    const it = res.body[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setTimeout(r, 300));
    const rec = fake.last()!;
    expect(rec.backpressureWaits).toBeGreaterThan(0);
    // ~4 MB sit in loopback socket buffers; the other ~20 MB must wait for the reader.
    expect(rec.framesSent).toBeLessThan(50);
    res.body.cancel();
  });

  it('a long-lived signal keeps no listener of a finished call (AbortSignal and CallAbort)', async () => {
    const ac = new AbortController();
    const call = new CallAbort();
    for (let i = 0; i < 3; i++) {
      await (await send(false, ac.signal)).body.text();
      const res = await client.send(openaiAdapter.buildRequest(chat(true), target()), { ...TIMEOUTS, signal: call, provider: 'openai' });
      for await (const _ of res.body);
    }
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(call.listenerCount('abort')).toBe(0);
  });

  it('a socket destroyed mid-stream is reported as cut', async () => {
    fake.enqueue({ kind: 'cut', afterFrames: 3, chunks: 10 });
    const res = await send(true);
    const events: StreamEvent[] = [];
    for await (const ev of upstreamEvents(res.body, openaiAdapter.createStreamParser(target()), 'openai')) if (ev.type !== 'open') events.push(ev);
    expect(events.filter((e) => e.type === 'delta')).toHaveLength(2);
    expect(events[events.length - 1]).toEqual({ type: 'error', error: expect.objectContaining({ cause: 'cut', retryable: false }) });
  });
});

describe('UpstreamClient connection failures', () => {
  const client = new UpstreamClient();
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  afterAll(async () => {
    await client.destroy();
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });
  const spec = (url: string) => ({ method: 'POST' as const, url, headers: { 'content-type': 'application/json' }, body: '{}' });

  it('connection refused → cause network, retryable', async () => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const e = await rejection(client.send(spec(`http://127.0.0.1:${port}/v1/chat/completions`), { ...TIMEOUTS, signal: new AbortController().signal, provider: 'x' }));
    expect(e.error).toMatchObject({ provider: 'x', status: 0, cause: 'network', retryable: true });
    expect(e.error.message).toContain('ECONNREFUSED');
  });

  it('connect timeout (TLS handshake never answered) → cause connect', async () => {
    const srv = createServer((s) => sockets.push(s));
    servers.push(srv);
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    const t0 = Date.now();
    const e = await rejection(
      client.send(spec(`https://127.0.0.1:${port}/v1/messages`), { ...TIMEOUTS, connectTimeoutMs: 200, signal: new AbortController().signal, provider: 'y' }),
    );
    expect(e.error).toMatchObject({ provider: 'y', status: 0, cause: 'connect', retryable: true });
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('aborting while the connection is still being made rejects at once; the request is never written', async () => {
    const accepted: Socket[] = [];
    let received = 0;
    const srv = createServer((s) => {
      accepted.push(s);
      s.on('data', (d) => (received += d.length));
    });
    servers.push(srv);
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    const ac = new AbortController();
    const p = rejection(client.send(spec(`https://127.0.0.1:${port}/v1/messages`), { ...TIMEOUTS, connectTimeoutMs: 400, signal: ac.signal, provider: 'z' }));
    while (accepted.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    const hello = received;
    const at = Date.now();
    ac.abort();
    expect((await p).error).toMatchObject({ provider: 'z', status: 0, type: 'aborted', retryable: false });
    expect(Date.now() - at).toBeLessThan(100);
    // The handshake ends at its connect timeout at the latest, and nothing but the TLS hello was sent.
    await once(accepted[0]!, 'close');
    expect(received).toBe(hello);
  });

  it('a large body left unread pauses the socket, and text() still reads all of it', async () => {
    const big = 'x'.repeat(12 * 1024 * 1024);
    let written = 0;
    const srv = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(big.length + 2) });
      const chunks = ['"', ...Array.from({ length: 192 }, (_, i) => big.slice(i * 65536, (i + 1) * 65536)), '"'];
      const pump = () => {
        while (chunks.length) {
          const c = chunks.shift()!;
          written += c.length;
          if (!res.write(c)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    servers.push(srv);
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    const res = await client.send(spec(`http://127.0.0.1:${port}/big`), { ...TIMEOUTS, signal: new AbortController().signal });
    await new Promise((r) => setTimeout(r, 200));
    // Unread, ~4 MB wait in loopback socket buffers and the server is held back.
    expect(written).toBeLessThan(big.length);
    expect(JSON.parse(await res.body.text())).toBe(big);
    expect(written).toBe(big.length + 2);
  });

  it('after close(), send fails fast', async () => {
    const c = new UpstreamClient();
    await c.close();
    const e = await rejection(c.send(spec('http://127.0.0.1:9/x'), { ...TIMEOUTS, signal: new AbortController().signal }));
    expect(e.error).toMatchObject({ cause: 'network', retryable: false });
  });
});
