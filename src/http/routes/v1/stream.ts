import type { ChatSession } from '../../../chat/session.ts';
import { AppError, isAppError } from '../../../lib/errors.ts';
import { errorBody } from '../../errors.ts';
import type { FrameSource } from '../chat/frame-stream.ts';
import { chunkFrame, chunkHead, contentFrame, openaiUsage, type ChunkHead } from './format.ts';

/**
 * Chat Completions chunks for an opened session: a role chunk, one content chunk per upstream
 * delta, the finish chunk as soon as the upstream reports its finish reason, then (after the
 * settle) the usage chunk (`choices: []`) when include_usage and `data: [DONE]`. The chunks of
 * deltas that arrived in one upstream read are returned together (ChatSession.take), so they leave
 * in one write as they came; none waits for a later read. A failure after
 * the headers sends one `{"error": …}` chunk (the SDK raises it) and ends the stream without
 * [DONE], so no client mistakes a cut answer for a complete one; the failure also goes to
 * `onFailed`, for the request's monitor event and access log. (An upstream lost after its finish
 * reason cut no answer: the session ends it as done, see ChatSession.next.)
 */
export function v1StreamSource(
  session: ChatSession,
  base: StreamBase,
  onUnexpected: (e: unknown) => void,
  onFailed: (e: AppError) => void,
): FrameSource {
  let phase: 'role' | 'stream' | 'end' = 'role';
  let finishSent = false;
  // The content chunks' shared text, made again only if the reported model changed (it does not
  // once the session is open; the check keeps the frames right if that ever changes).
  let head: ChunkHead | null = null;
  let headModel = '';
  // Methods and module functions only: no named closures per stream (tsx's keepNames names each).
  return {
    async next() {
      if (phase === 'role') {
        phase = 'stream';
        return chunkFrame(headOf(base, session), { delta: { role: 'assistant', content: '' }, finish_reason: null });
      }
      if (phase === 'end') return null;
      try {
        const item = await session.next();
        if (!item) {
          phase = 'end';
          return null;
        }
        if (item.type !== 'done') {
          // This item's chunk, and those of the items that came in the same upstream read: one write.
          let out = '';
          for (let it: typeof item | undefined = item; it !== undefined; it = session.take()) {
            if (it.type === 'delta') {
              if (head === null || session.names.model !== headModel) {
                headModel = session.names.model;
                head = chunkHead(headOf(base, session));
              }
              out += contentFrame(head, it.text);
            } else {
              finishSent = true;
              out += finishFrame(base, session, it.finish_reason);
            }
          }
          return out;
        }
        phase = 'end';
        const o = item.outcome;
        let out = finishSent ? '' : finishFrame(base, session, o.finish_reason);
        if (base.includeUsage) out += chunkFrame(headOf(base, session), null, openaiUsage(o));
        return `${out}data: [DONE]\n\n`;
      } catch (e) {
        phase = 'end';
        if (isAppError(e) && e.code === 'CLIENT_CLOSED') return null;
        if (!isAppError(e)) onUnexpected(e);
        const err = isAppError(e) ? e : new AppError('INTERNAL', 'Stream error');
        onFailed(err);
        return `data: ${JSON.stringify(errorBody(err, 'openai', base.requestId))}\n\n`;
      }
    },
    cancel() {
      return session.cancel();
    },
    get ended() {
      return phase === 'end';
    },
  };
}

type StreamBase = { id: string; created: number; includeUsage: boolean; requestId: string };

// Field by field, not `{ ...base, model }`: a spread's copy is an object of a shape of its own for
// every chunk, which chunkFrame's reads then missed in V8's caches (lib/shape.ts).
const headOf = (base: StreamBase, session: ChatSession) => ({ id: base.id, created: base.created, model: session.names.model, includeUsage: base.includeUsage });

const finishFrame = (base: StreamBase, session: ChatSession, reason: string) => chunkFrame(headOf(base, session), { delta: {}, finish_reason: reason });
