import type { ProviderAdapter } from '../types.ts';
import { buildGeminiRequest } from './request.ts';
import { parseGeminiError, parseGeminiResponse } from './response.ts';
import { createGeminiStreamParser } from './stream.ts';

export { toGeminiContents } from './request.ts';

/** Gemini Developer API: POST {base}/v1beta/models/{model}:generateContent | :streamGenerateContent?alt=sse. */
export const geminiAdapter: ProviderAdapter = {
  kind: 'gemini',
  buildRequest: buildGeminiRequest,
  parseResponse: parseGeminiResponse,
  parseError: parseGeminiError,
  createStreamParser: createGeminiStreamParser,
};
