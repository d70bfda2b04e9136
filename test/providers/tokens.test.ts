import { describe, expect, it } from 'vitest';
import { estimateTokens, inputTokensUpperBound, PER_MESSAGE_OVERHEAD_TOKENS, PER_REQUEST_OVERHEAD_TOKENS } from '../../src/providers/tokens.ts';
import { fakeInputTokens } from '../fakes/behavior.ts';

describe('token arithmetic', () => {
  it('bounds by UTF-8 bytes plus template overhead', () => {
    const msgs = [{ content: 'hello' }, { content: 'héllo 🌍' }];
    expect(inputTokensUpperBound(msgs)).toBe(PER_REQUEST_OVERHEAD_TOKENS + 2 * PER_MESSAGE_OVERHEAD_TOKENS + 5 + 11);
    expect(inputTokensUpperBound([])).toBe(PER_REQUEST_OVERHEAD_TOKENS);
  });

  it('is never below the usage the fake providers report for the same prompt', () => {
    for (const text of ['', 'a', 'hello world', 'x'.repeat(10_000), '漢字'.repeat(300)]) {
      const msgs = [{ role: 'system', text: 'sys' }, { role: 'user', text }];
      expect(inputTokensUpperBound(msgs.map((m) => ({ content: m.text })))).toBeGreaterThanOrEqual(fakeInputTokens(msgs));
    }
  });

  it('estimates ≈ chars/4, rounded up', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('abc')).toBe(1);
    expect(estimateTokens('abcdefghi')).toBe(3);
  });
});
