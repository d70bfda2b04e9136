import { describe, expect, it } from 'vitest';
import { openaiFinishReason, upstreamAppError } from '../../src/chat/errors.ts';
import { reportedNames } from '../../src/chat/names.ts';
import type { ProviderError } from '../../src/providers/types.ts';
import { classifyTransportError } from '../../src/upstream/client.ts';

const pe = (p: Partial<ProviderError>): ProviderError => ({ provider: 'openai', status: 0, retryable: true, message: 'm', ...p });

describe('upstream error mapping', () => {
  it.each([
    [pe({ cause: 'first_byte' }), 504, 'UPSTREAM_TIMEOUT', 'first_byte'],
    [pe({ cause: 'idle' }), 504, 'UPSTREAM_TIMEOUT', 'idle'],
    [pe({ cause: 'connect' }), 502, 'UPSTREAM_ERROR', 'connect'],
    [classifyTransportError(Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }), 'openai'), 502, 'UPSTREAM_ERROR', 'connect'],
    [classifyTransportError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'openai'), 502, 'UPSTREAM_ERROR', undefined],
    [pe({ status: 429 }), 502, 'UPSTREAM_ERROR', undefined],
    [pe({ status: 529, type: 'overloaded_error' }), 502, 'UPSTREAM_ERROR', undefined],
  ])('%j → %i %s', (e, status, code, timeout) => {
    const a = upstreamAppError(e, e.provider);
    expect(a.status).toBe(status);
    expect(a.code).toBe(code);
    expect(a.details).toMatchObject({ provider: 'openai', upstream_status: e.status || null });
    expect(a.details.timeout).toBe(timeout);
  });

  it('passes request-shaped vendor messages on, summarizes the rest, and masks the vendor behind a public name', () => {
    expect(upstreamAppError(pe({ status: 400, message: 'max_tokens too large' }), 'openai').message).toBe('openai upstream error 400: max_tokens too large');
    expect(upstreamAppError(pe({ status: 401, message: 'Incorrect API key provided: sk-12***' }), 'openai').message).toBe('openai upstream error 401');
    const masked = upstreamAppError(pe({ status: 400, message: 'gpt-4o-mini does not support x' }), 'kAIxu');
    expect(masked.message).toBe('upstream error 400');
    expect(masked.details.provider).toBe('kAIxu');
  });

  it('normalizes vendor finish reasons to OpenAI’s set', () => {
    expect(['stop', 'end_turn', 'STOP', 'stop_sequence', null].map(openaiFinishReason)).toEqual(['stop', 'stop', 'stop', 'stop', 'stop']);
    expect(['length', 'max_tokens', 'MAX_TOKENS'].map(openaiFinishReason)).toEqual(['length', 'length', 'length']);
    expect(['SAFETY', 'content_filter', 'refusal'].map(openaiFinishReason)).toEqual(['content_filter', 'content_filter', 'content_filter']);
    expect(openaiFinishReason('tool_use')).toBe('tool_calls');
  });

  it('reports public names only for lanes that ask for it', () => {
    const lane = { id: 'l', provider: 'kaixu', model: 'kaixu-chat', targets: [], report_public: true, display_provider: 'kAIxu', is_active: true, created_at: 0, updated_at: 0 };
    const target = { provider: 'openai', model: 'gpt-4o-mini' };
    const requested = { provider: 'kaixu', model: 'kaixu-chat' };
    expect(reportedNames({ requested, lane, targets: [target] }, target)).toEqual({ provider: 'kAIxu', model: 'kaixu-chat', requested_provider: 'kaixu', requested_model: 'kaixu-chat' });
    expect(reportedNames({ requested, lane: { ...lane, report_public: false }, targets: [target] }, target)).toMatchObject({ provider: 'openai', model: 'gpt-4o-mini', requested_model: 'kaixu-chat' });
    expect(reportedNames({ requested: target, lane: null, targets: [target] }, target)).toEqual(target);
  });
});
