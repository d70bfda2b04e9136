import { createOpenAIAdapter } from '../openai/index.ts';
import type { ProviderAdapter } from '../types.ts';

/**
 * Any Chat Completions server by base URL (Ollama, vLLM, Groq, OpenRouter, Together…).
 * They accept `max_tokens` (not all know `max_completion_tokens`) and `system` (not always
 * `developer`). The credential is optional (local servers often have none).
 */
export const openaiCompatibleAdapter: ProviderAdapter = createOpenAIAdapter('openai-compatible', {
  maxTokensField: 'max_tokens',
  developerRole: 'system',
});
