import type { FakeBehavior } from '../test/fakes/behavior.ts';
import { startGateway, type Gateway, type GatewayOpts } from './gateway.ts';
import type { LoadClient } from './load-client.ts';
import type { BenchProvider } from './options.ts';
import { spawnNode, waitMessage, type Child } from './procs.ts';
import type { RequestSpec } from './protocol.ts';
import type { TargetId } from './results.ts';
import type { Runtime } from './workloads.ts';

/** Starting the upstream, the floor proxy and the gateways, and describing each as a Runtime. */

export const UPSTREAM_KEY = 'sk-bench-fake-upstream-key';
const PROMPT = [{ role: 'user', content: 'Benchmark: say hello.' }];
const json = { 'content-type': 'application/json' };

export const openaiBody = (model: string, stream: boolean) =>
  JSON.stringify({ model, messages: PROMPT, max_tokens: 32, ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}) });
export const seedBody = (model: string) => JSON.stringify({ provider: 'openai', model, messages: PROMPT, max_tokens: 32 });

export interface Upstream {
  child: Child;
  url: string;
  setDefault(b: FakeBehavior): Promise<void>;
}

/**
 * The same prompt as an Anthropic Messages request (`POST /v1/messages`), for the floor proxy in
 * front of the fake Anthropic upstream: what a client of the vendor sends, passed through as is.
 */
export function anthropicRequest(origin: string, model: string, stream: boolean): RequestSpec {
  return {
    url: `${origin}/v1/messages`,
    headers: { ...json, 'x-api-key': UPSTREAM_KEY, 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model, messages: PROMPT, max_tokens: 32, ...(stream ? { stream: true } : {}) }),
    // The end of a whole stream; the content of a whole answer.
    expect: stream ? 'event: message_stop' : '"content"',
  };
}

export async function startUpstream(root: string, cores: string | null, provider: BenchProvider = 'openai'): Promise<Upstream> {
  const child = spawnNode('bench/upstream.ts', [UPSTREAM_KEY, provider], { cores, cwd: root, ipc: true });
  const ready = await waitMessage(
    child,
    (m) => {
      const x = m as { ready?: string; failed?: string };
      return x.ready ? { url: x.ready } : x.failed ? { failed: x.failed } : undefined;
    },
    60_000,
    `fake ${provider} upstream`,
  );
  if ('failed' in ready) {
    await child.stop();
    throw new Error(`fake upstream failed to start: ${ready.failed}`);
  }
  let seq = 0;
  return {
    child,
    url: ready.url,
    async setDefault(b) {
      const s = ++seq;
      const acked = waitMessage(child, (m) => ((m as { ack?: number }).ack === s ? true : undefined), 10_000, 'fake upstream');
      child.proc.send({ setDefault: b, seq: s });
      await acked;
    },
  };
}

/** `wrapper`: a command the proxy runs under (valgrind, for --instructions), with a longer start and more node flags. */
export async function startFloor(root: string, cores: string | null, upstreamUrl: string, o: { wrapper?: string[]; startTimeoutMs?: number; nodeFlags?: string[] } = {}): Promise<{ child: Child; url: string }> {
  const child = spawnNode('bench/floor-proxy.ts', [upstreamUrl], { cores, cwd: root, ipc: true, wrapper: o.wrapper, nodeFlags: o.nodeFlags });
  const port = await waitMessage(child, (m) => (m as { ready?: number }).ready, o.startTimeoutMs ?? 30_000, 'floor proxy');
  return { child, url: `http://127.0.0.1:${port}` };
}

export async function startGatewaySafe(o: GatewayOpts): Promise<Gateway | Error> {
  try {
    return await startGateway(o);
  } catch (e) {
    return e as Error;
  }
}


function runtime(id: TargetId, child: Child, chat: RequestSpec, stream?: RequestSpec): Runtime & { smokeFailure?: string } {
  const rt: Runtime & { smokeFailure?: string } = {
    id,
    pid: child.pid,
    chat,
    stream: stream ? { req: stream, format: 'openai' } : undefined,
    dead: () => rt.smokeFailure ?? (child.alive() ? null : `process exited\n${child.tail()}`),
  };
  return rt;
}

export function directRuntime(up: Upstream, model: string) {
  const headers = { ...json, authorization: `Bearer ${UPSTREAM_KEY}` };
  const url = `${up.url}/v1/chat/completions`;
  return runtime('direct', up.child, { url, headers, body: openaiBody(model, false), expect: '"choices"' }, { url, headers, body: openaiBody(model, true), expect: '' });
}

export function floorRuntime(floor: { child: Child; url: string }, model: string) {
  const headers = { ...json, authorization: `Bearer ${UPSTREAM_KEY}` };
  const url = `${floor.url}/v1/chat/completions`;
  return runtime('floor', floor.child, { url, headers, body: openaiBody(model, false), expect: '"choices"' }, { url, headers, body: openaiBody(model, true), expect: '' });
}

export function gatewayRuntimes(id: 'gw-sqlite' | 'gw-pg' | 'gw-sqlite-mon' | 'gw-sqlite-nomon' | 'gw-before' | 'gw-after', gw: Gateway, model: string) {
  const headers = { ...json, authorization: `Bearer ${gw.key}`, 'x-kaixu-install-id': gw.installId };
  const url = `${gw.url}/v1/chat/completions`;
  const v1 = runtime(id, gw.child, { url, headers, body: openaiBody(model, false), expect: '"choices"' }, { url, headers, body: openaiBody(model, true), expect: '' });
  if (gw.dbCpu) v1.dbCpu = gw.dbCpu;
  if (id !== 'gw-sqlite') return [v1];
  const seed = runtime('seed-sqlite', gw.child, { url: `${gw.url}/.netlify/functions/gateway-chat`, headers, body: seedBody(model), expect: '"output_text"' });
  return [v1, seed];
}

/** A target that cannot answer one request is reported as failed for every cell, without load. */
export async function smoke(load: LoadClient, rts: (Runtime & { smokeFailure?: string })[]): Promise<void> {
  for (const rt of rts) {
    if (rt.dead()) continue;
    try {
      const r = await load.closed({ req: rt.chat, concurrency: 1, durationMs: 1 });
      if (r.latNs.length === 0 || r.errors > 0) rt.smokeFailure = `smoke request failed: ${r.firstError ?? 'no answer'}`;
    } catch (e) {
      rt.smokeFailure = `smoke request failed: ${(e as Error).message}`;
    }
  }
}
