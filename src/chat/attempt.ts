import type { LaneTarget, Upstream } from '../lanes/types.ts';
import type { Spelled } from '../lib/shape.ts';
import type { ChatRequest, ChatResult, ProviderAdapter, ProviderError } from '../providers/types.ts';
import type { CallAbort } from '../upstream/abort.ts';
import { asProviderError, type UpstreamBody, type UpstreamResponse } from '../upstream/client.ts';
import { upstreamBatches, type UpstreamEvent } from '../upstream/events.ts';
import type { AdapterLookup, CallInfo, ChatParams, UpstreamPort } from './types.ts';

export interface AttemptDeps {
  client: UpstreamPort;
  adapterFor: AdapterLookup;
}

export interface AttemptInput {
  upstream: Upstream;
  target: LaneTarget;
  params: ChatParams;
  signal: CallAbort;
  info: CallInfo;
}

/** An upstream stream that has reached the point where the caller commits to it (see openOnce). */
export interface OpenStream {
  /** The rest of the stream, a network read's events at a time (upstreamBatches). */
  batches: AsyncGenerator<UpstreamEvent[]>;
  body: UpstreamBody;
  /**
   * Events read but not yet processed, in order: those read while opening (usage, the first delta
   * or finish, and whatever came in the same read after it), then each later batch in turn.
   */
  pending: UpstreamEvent[];
}

/**
 * How far a stream is read before the attempt counts as answered: its first event (the caller
 * starts the response then, e.g. /v1's role chunk), or its first text delta or finish (nothing
 * reaches the client before the text, e.g. the seed stream after its meta frame).
 */
export type CommitPoint = 'event' | 'delta';

export type Attempt<T> = { ok: true; value: T } | { ok: false; error: ProviderError };

const sendOpts = (a: AttemptInput) => ({
  signal: a.signal,
  connectTimeoutMs: a.upstream.timeouts.connectMs,
  firstByteTimeoutMs: a.upstream.timeouts.firstByteMs,
  idleTimeoutMs: a.upstream.timeouts.idleMs,
  provider: a.upstream.name,
});

/** The provider request for one target, field by field (lib/shape.ts: one object shape per call). */
function chatRequest(p: ChatParams, model: string, stream: boolean): ChatRequest {
  const req: Spelled<ChatRequest> = { model, messages: p.messages, max_tokens: p.max_tokens, temperature: p.temperature, top_p: p.top_p, stop: p.stop, stream };
  return req;
}

/** Builds and sends the request; a non-2xx answer comes back as the adapter's ProviderError. */
async function send(d: AttemptDeps, a: AttemptInput, stream: boolean): Promise<Attempt<{ res: UpstreamResponse; adapter: ProviderAdapter }>> {
  const adapter = d.adapterFor(a.upstream.kind);
  const spec = adapter.buildRequest(chatRequest(a.params, a.target.model, stream), a.upstream.target);
  const res = await d.client.send(spec, sendOpts(a));
  a.info.upstreamStatus = res.status;
  if (res.status >= 200 && res.status < 300) return { ok: true, value: { res, adapter } };
  const body = await res.body.text();
  return { ok: false, error: adapter.parseError(res.status, res.headers, body, a.upstream.target) };
}

/** Runs one attempt, counting its time as upstream time; transport failures become values. */
async function timed<T>(a: AttemptInput, run: () => Promise<Attempt<T>>): Promise<Attempt<T>> {
  const t0 = performance.now();
  try {
    return await run();
  } catch (e) {
    return { ok: false, error: asProviderError(e, a.upstream.name, a.signal) };
  } finally {
    a.info.upstreamMs += performance.now() - t0;
  }
}

/** One non-streaming call to one target. Expected failures come back as values. */
export function completeOnce(d: AttemptDeps, a: AttemptInput): Promise<Attempt<ChatResult>> {
  return timed(a, async () => {
    const sent = await send(d, a, false);
    if (!sent.ok) return sent;
    const parsed = sent.value.adapter.parseResponse(await sent.value.res.body.text(), a.upstream.target);
    return 'text' in parsed ? { ok: true, value: parsed } : { ok: false, error: parsed };
  });
}

/**
 * Opens a stream on one target and reads up to the commit point. Until then nothing has reached
 * the client, so any failure — an error event, the connection dropping before the first chunk —
 * is still eligible for the next target.
 */
export function openOnce(d: AttemptDeps, a: AttemptInput, commitAt: CommitPoint): Promise<Attempt<OpenStream>> {
  return timed(a, async () => {
    const sent = await send(d, a, true);
    if (!sent.ok) return sent;
    const { res, adapter } = sent.value;
    const batches = upstreamBatches(res.body, adapter.createStreamParser(a.upstream.target), a.upstream.name, a.signal);
    const pending: UpstreamEvent[] = [];
    let committed = false;
    while (!committed) {
      const r = await batches.next();
      if (r.done) break;
      for (const ev of r.value) {
        // Past the commit point the rest of the read is the caller's, an error included.
        if (committed) pending.push(ev);
        else if (ev.type === 'error') return { ok: false, error: ev.error.cause === 'cut' ? { ...ev.error, retryable: true } : ev.error };
        else if (ev.type === 'open') committed = commitAt === 'event';
        else {
          pending.push(ev);
          committed = ev.type === 'delta' || ev.type === 'finish';
        }
      }
    }
    return { ok: true, value: { batches, body: res.body, pending } };
  });
}
