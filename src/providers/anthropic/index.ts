import type { ProviderAdapter } from '../types.ts';
import { buildAnthropicRequest } from './request.ts';
import { parseAnthropicError, parseAnthropicResponse } from './response.ts';
import { createAnthropicStreamParser } from './stream.ts';

export { ANTHROPIC_VERSION, toAnthropicMessages } from './request.ts';

/** Anthropic Messages: POST {base}/v1/messages (base e.g. https://api.anthropic.com). */
export const anthropicAdapter: ProviderAdapter = {
  kind: 'anthropic',
  buildRequest: buildAnthropicRequest,
  parseResponse: parseAnthropicResponse,
  parseError: parseAnthropicError,
  createStreamParser: createAnthropicStreamParser,
};
