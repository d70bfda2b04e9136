import type { Admission, SettleInput } from '../gateway/governance.ts';
import type { LaneTarget, Upstream } from '../lanes/types.ts';
import type { UpstreamRegistry } from '../lanes/upstreams.ts';
import { AppError } from '../lib/errors.ts';
import { estimateTokens } from '../providers/tokens.ts';
import type { ProviderError, Usage } from '../providers/types.ts';
import type { CallAbort } from '../upstream/abort.ts';
import { completeOnce, openOnce, type Attempt, type AttemptDeps, type CommitPoint, type OpenStream } from './attempt.ts';
import { openaiFinishReason, upstreamAppError } from './errors.ts';
import { reportedNames } from './names.ts';
import type { BeginInput, ChatOutcome, ChatStreamItem, ReportedNames } from './types.ts';

export interface SessionDeps extends AttemptDeps {
  upstreams: UpstreamRegistry;
  /** Longest Retry-After worth waiting for inside one call (UPSTREAM_MAX_RETRY_AFTER_MS). */
  maxRetryAfterMs: number;
}

export const clientClosed = () => new AppError('CLIENT_CLOSED', 'Client closed the request');

function sleep(ms: number, abort: CallAbort): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      off();
      resolve();
    }, ms);
    const off = abort.onAbort(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * One admitted chat call. Exactly one of `admission.settle` (the call was answered, even if
 * the client left mid-stream) or `admission.release` (nothing was answered) runs, once.
 *
 * Targets are tried in lane order. A retryable failure before anything reached the client
 * moves on to the next target. Retry-After is honored per upstream: a target on an upstream
 * that asked us to wait is called only after that wait (when ≤ maxRetryAfterMs) and skipped
 * when the wait is longer; a different upstream is its own rate-limit domain and is tried at once.
 * Once a stream is committed (see `open`), failures end the stream (never a retry).
 */
export class ChatSession {
  private readonly ac: CallAbort;
  private readonly started = performance.now();
  private closed = false;
  private final?: Promise<ChatOutcome>;
  private stream?: OpenStream;
  private used?: LaneTarget;
  private text = '';
  private usage: Partial<Usage> = {};
  private finishReason: string | null = null;
  names: ReportedNames;

  constructor(
    private readonly d: SessionDeps,
    private readonly input: BeginInput,
    readonly admission: Admission,
  ) {
    this.names = reportedNames(input.route, input.route.targets[0]!);
    this.ac = input.abort;
  }

  /** Non-streaming: the whole answer, settled. Throws AppError (after releasing) on failure. */
  async complete(): Promise<ChatOutcome> {
    try {
      const { target, value } = await this.tryTargets((a) => completeOnce(this.d, a));
      this.text = value.text;
      if (value.usage) this.usage = { ...value.usage };
      this.finishReason = value.finish_reason;
      this.used = target;
      return await this.settle('ok', true);
    } finally {
      await this.release();
    }
  }

  /**
   * Streaming, phase 1: reach an upstream that is streaming, read up to `commitAt` (its first
   * event, or its first delta). Failures before that move on to the next target; after it, the
   * stream is committed. Throws AppError after releasing.
   */
  async open(commitAt: CommitPoint): Promise<void> {
    try {
      const { target, value } = await this.tryTargets((a) => openOnce(this.d, a, commitAt));
      this.stream = value;
      this.used = target;
      if (this.ac.aborted) throw clientClosed();
    } catch (e) {
      await this.release();
      throw e;
    }
  }

  /**
   * Streaming, phase 2: the next delta; `finish` once, when the upstream reports its finish reason
   * (a later one only updates the outcome's); then one `done` (after settling), then null.
   * A mid-stream upstream failure ends the call (see endEarly) and throws the AppError — unless the
   * upstream had already reported its finish reason and only its trailer (the usage chunk, `[DONE]`,
   * `message_stop`) was lost to a cut or a stall: the answer is whole, so it ends with `done`,
   * billed from the provider's counts when both arrived, else estimated.
   * A client disconnect ends it the same way and returns null.
   */
  async next(): Promise<ChatStreamItem | null> {
    const s = this.stream;
    if (!s || this.closed) return null;
    for (;;) {
      const item = this.take();
      if (item) return item;
      // Nothing buffered, or an error next (take leaves those here).
      const ev = s.pending.shift();
      if (ev?.type === 'error') {
        if (this.ac.aborted) {
          await this.endEarly('client_disconnect');
          return null;
        }
        if (this.finishReason !== null && (ev.error.cause === 'cut' || ev.error.cause === 'idle')) {
          const counted = this.usage.input_tokens !== undefined && this.usage.output_tokens !== undefined;
          return { type: 'done', outcome: await this.settle('ok', counted) };
        }
        await this.endEarly('upstream_cut');
        throw upstreamAppError(ev.error, this.shownProvider(ev.error.provider));
      }
      const r = await s.batches.next();
      if (r.done) return { type: 'done', outcome: await this.settle('ok', true) };
      s.pending = r.value;
    }
  }

  /**
   * The next delta or finish among the events already read from the upstream, without waiting:
   * what arrived in the same network read as the one `next()` returned, for the caller to send on
   * in the same write. Usage on the way is recorded. Undefined when nothing is buffered, when an
   * error is next (`next()` handles it), or once the call has ended.
   */
  take(): Extract<ChatStreamItem, { type: 'delta' | 'finish' }> | undefined {
    const s = this.stream;
    if (!s || this.closed) return undefined;
    const p = s.pending;
    while (p.length > 0) {
      const ev = p[0]!;
      if (ev.type === 'error') return undefined;
      p.shift();
      if (ev.type === 'delta') {
        this.text += ev.text;
        return { type: 'delta', text: ev.text };
      }
      if (ev.type === 'usage') {
        if (ev.usage.input_tokens !== undefined) this.usage.input_tokens = ev.usage.input_tokens;
        if (ev.usage.output_tokens !== undefined) this.usage.output_tokens = ev.usage.output_tokens;
      } else if (ev.type === 'finish') {
        const first = this.finishReason === null;
        this.finishReason = ev.finish_reason;
        if (first && ev.finish_reason !== null) return { type: 'finish', finish_reason: openaiFinishReason(ev.finish_reason) };
      }
    }
    return undefined;
  }

  /** The client went away: stop the upstream now and bill what was generated (or release). */
  async cancel(): Promise<void> {
    this.ac.abort();
    if (this.stream) await this.endEarly('client_disconnect').catch(() => undefined);
    else await this.release();
  }

  /**
   * A committed stream that stops before its end: what was generated is billed; when no text was
   * generated yet (a stream committed at its first event), nothing was answered and the
   * reservation is released, as it would have been before the commit.
   */
  private async endEarly(status: 'client_disconnect' | 'upstream_cut'): Promise<void> {
    if (this.text) {
      await this.settle(status, false);
      return;
    }
    this.stream?.body.cancel();
    await this.release();
  }

  private shownProvider(vendor: string): string {
    return this.input.route.lane?.report_public ? this.names.provider : vendor;
  }

  private async tryTargets<T>(attempt: (a: Parameters<typeof completeOnce>[1]) => Promise<Attempt<T>>): Promise<{ target: LaneTarget; value: T }> {
    const targets = this.input.route.targets;
    const notBefore = new Map<string, number>();
    let last: ProviderError | undefined;
    for (const target of targets) {
      if (this.ac.aborted) throw clientClosed();
      const wait = (notBefore.get(target.provider) ?? 0) - performance.now();
      if (wait === Infinity) continue;
      if (wait > 0) {
        const t0 = performance.now();
        await sleep(wait, this.ac);
        this.input.info.upstreamMs += performance.now() - t0;
        if (this.ac.aborted) throw clientClosed();
      }
      const upstream: Upstream | null = await this.d.upstreams.get(target.provider);
      if (!upstream?.configured) continue;
      this.input.info.provider = target.provider;
      this.input.info.model = target.model;
      const r = await attempt({ upstream, target, params: this.input.params, signal: this.ac, info: this.input.info });
      if (r.ok) {
        this.names = reportedNames(this.input.route, target);
        return { target, value: r.value };
      }
      if (this.ac.aborted) throw clientClosed();
      last = r.error;
      if (!r.error.retryable) break;
      const ra = r.error.retryAfterMs;
      if (ra !== undefined && ra > 0) notBefore.set(target.provider, ra > this.d.maxRetryAfterMs ? Infinity : performance.now() + ra);
    }
    if (!last) throw new AppError('NOT_CONFIGURED', 'No configured upstream for this model');
    throw upstreamAppError(last, this.shownProvider(last.provider));
  }

  private async release(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.admission.release();
  }

  /** Usage as billed: the provider's when it reported both counts for a completed call, else estimated. */
  private billedUsage(completed: boolean): { usage: Usage; source: SettleInput['usageSource'] } {
    const u = this.usage;
    if (completed && u.input_tokens !== undefined && u.output_tokens !== undefined) {
      return { usage: { input_tokens: u.input_tokens, output_tokens: u.output_tokens }, source: 'provider' };
    }
    const generated = estimateTokens(this.text);
    const input = u.input_tokens ?? estimateTokens(this.input.params.messages.map((m) => m.content).join('\n'));
    // A call cut short may carry an early, partial output count (Anthropic's message_start).
    const output = completed ? (u.output_tokens ?? generated) : Math.max(u.output_tokens ?? 0, generated);
    return { usage: { input_tokens: input, output_tokens: output }, source: 'estimated' };
  }

  private settle(status: SettleInput['status'], completed: boolean): Promise<ChatOutcome> {
    this.final ??= (async () => {
      if (this.closed) throw clientClosed();
      this.closed = true;
      if (status !== 'ok') this.stream?.body.cancel();
      const target = this.used!;
      const { usage, source } = this.billedUsage(completed);
      const t0 = performance.now();
      this.input.info.settleAt = t0;
      const res = await this.admission.settle({ target, usage, usageSource: source, status, latencyMs: Math.round(t0 - this.started) });
      this.input.info.settleMs = performance.now() - t0;
      return {
        names: this.names,
        text: this.text,
        usage: { input_tokens: usage.input_tokens, output_tokens: usage.output_tokens, cost_cents: res.cost_cents },
        month: res.month,
        finish_reason: openaiFinishReason(this.finishReason),
        usageSource: source,
      };
    })();
    return this.final;
  }
}
