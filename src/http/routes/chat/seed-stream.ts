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
  let phase: 'meta' | 'open' | 'stream' | 'end' = 'meta';
  const requested = () => {
    const n = session.names;
    return n.requested_provider === undefined ? {} : { requested_provider: n.requested_provider, requested_model: n.requested_model };
  };
  const fail = (e: unknown): string | null => {
    phase = 'end';
    if (isAppError(e) && e.code === 'CLIENT_CLOSED') return null;
    if (!isAppError(e)) onUnexpected(e);
    const err = isAppError(e) ? e : new AppError('INTERNAL', 'Stream error');
    onFailed(err);
    return frame('error', { error: err.message, code: err.code, ...requested() });
  };
  return {
    async next() {
      if (phase === 'meta') {
        phase = 'open';
        const { provider, model } = session.names;
        return frame('meta', { provider, model, ...requested(), telemetry, month: session.admission.month });
      }
      if (phase === 'open') {
        try {
          // Nothing but meta has reached the client: until the first text, another target may answer.
          await session.open('delta');
        } catch (e) {
          return fail(e);
        }
        phase = 'stream';
      }
      if (phase !== 'stream') return null;
      try {
        let item = await session.next();
        // The seed stream reports no finish reason: its `done` carries the usage.
        while (item?.type === 'finish') item = await session.next();
        if (!item) {
          phase = 'end';
          return null;
        }
        if (item.type === 'delta') return frame('delta', { text: item.text });
        phase = 'end';
        const o = item.outcome;
        return frame('done', { usage: o.usage, month: o.month, provider: o.names.provider, model: o.names.model, ...requested() });
      } catch (e) {
        return fail(e);
      }
    },
    cancel: () => session.cancel(),
  };
}
