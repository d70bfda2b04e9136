import type { ChatSession } from '../../../chat/session.ts';
import { AppError, isAppError } from '../../../lib/errors.ts';
import { sseFrame } from '../../../lib/sse.ts';
import type { FrameSource } from './frame-stream.ts';

const frame = (event: string, data: unknown) => sseFrame(event, JSON.stringify(data));

/**
 * The seed `gateway-stream` frames: `meta` first (before any upstream is contacted), one
 * `delta` per upstream text chunk, `done` after settling, or `error` if the call fails after
 * the headers went out (also reported to `onFailed`, for the request's monitor event and access
 * log). `ping` frames are added by the stream wrapper.
 */
export function seedStreamSource(
  session: ChatSession,
  telemetry: { install_id: string | null },
  onUnexpected: (e: unknown) => void,
  onFailed: (e: AppError) => void,
): FrameSource {
  return new SeedStreamSource(session, telemetry, onUnexpected, onFailed);
}

/** A class, not closures: under tsx (esbuild keepNames) each named arrow made per stream costs a defineProperty call. */
class SeedStreamSource implements FrameSource {
  private phase: 'meta' | 'open' | 'stream' | 'end' = 'meta';

  constructor(
    private readonly session: ChatSession,
    private readonly telemetry: { install_id: string | null },
    private readonly onUnexpected: (e: unknown) => void,
    private readonly onFailed: (e: AppError) => void,
  ) {}

  async next(): Promise<string | null> {
    const session = this.session;
    if (this.phase === 'meta') {
      this.phase = 'open';
      const { provider, model } = session.names;
      return frame('meta', { provider, model, ...requestedOf(session), telemetry: this.telemetry, month: session.admission.month });
    }
    if (this.phase === 'open') {
      try {
        // Nothing but meta has reached the client: until the first text, another target may answer.
        await session.open('delta');
      } catch (e) {
        return this.fail(e);
      }
      this.phase = 'stream';
    }
    if (this.phase !== 'stream') return null;
    try {
      let item = await session.next();
      // The seed stream reports no finish reason: its `done` carries the usage.
      while (item?.type === 'finish') item = await session.next();
      if (!item) {
        this.phase = 'end';
        return null;
      }
      if (item.type === 'delta') {
        // With the deltas that came in the same upstream read (ChatSession.take): one write.
        let out = frame('delta', { text: item.text });
        for (let it = session.take(); it !== undefined; it = session.take()) if (it.type === 'delta') out += frame('delta', { text: it.text });
        return out;
      }
      this.phase = 'end';
      const o = item.outcome;
      return frame('done', { usage: o.usage, month: o.month, provider: o.names.provider, model: o.names.model, ...requestedOf(session) });
    } catch (e) {
      return this.fail(e);
    }
  }

  cancel(): Promise<void> {
    return this.session.cancel();
  }

  get ended(): boolean {
    return this.phase === 'end';
  }

  private fail(e: unknown): string | null {
    this.phase = 'end';
    if (isAppError(e) && e.code === 'CLIENT_CLOSED') return null;
    if (!isAppError(e)) this.onUnexpected(e);
    const err = isAppError(e) ? e : new AppError('INTERNAL', 'Stream error');
    this.onFailed(err);
    return frame('error', { error: err.message, code: err.code, ...requestedOf(this.session) });
  }
}

/** What the caller asked for, when it differs from what answers (a lane or an alias). */
function requestedOf(session: ChatSession) {
  const n = session.names;
  return n.requested_provider === undefined ? {} : { requested_provider: n.requested_provider, requested_model: n.requested_model };
}
