import type { ProviderAdapter, ProviderKind } from '../types.ts';
import { buildOpenAIRequest, type OpenAIDialect } from './request.ts';
import { parseOpenAIError, parseOpenAIResponse } from './response.ts';
import { createOpenAIStreamParser } from './stream.ts';

export type { OpenAIDialect };

/** The shared Chat Completions base: OpenAI and every OpenAI-compatible server. */
export function createOpenAIAdapter(kind: ProviderKind, dialect: OpenAIDialect): ProviderAdapter {
  return {
    kind,
    buildRequest: (req, target) => buildOpenAIRequest(req, target, dialect),
    parseResponse: parseOpenAIResponse,
    parseError: parseOpenAIError,
    createStreamParser: createOpenAIStreamParser,
  };
}

/** OpenAI Chat Completions: POST {base}/chat/completions (base e.g. https://api.openai.com/v1). */
export const openaiAdapter: ProviderAdapter = createOpenAIAdapter('openai', {
  maxTokensField: 'max_completion_tokens',
  developerRole: 'developer',
});
