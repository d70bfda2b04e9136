import { anthropicAdapter } from './anthropic/index.ts';
import { geminiAdapter } from './gemini/index.ts';
import { openaiAdapter } from './openai/index.ts';
import { openaiCompatibleAdapter } from './openai-compatible/index.ts';
import type { ProviderAdapter, ProviderKind } from './types.ts';

export const PROVIDER_KINDS: readonly ProviderKind[] = ['openai', 'anthropic', 'gemini', 'openai-compatible'];

const ADAPTERS: Record<ProviderKind, ProviderAdapter> = {
  openai: openaiAdapter,
  anthropic: anthropicAdapter,
  gemini: geminiAdapter,
  'openai-compatible': openaiCompatibleAdapter,
};

export function adapterFor(kind: ProviderKind): ProviderAdapter {
  const a = ADAPTERS[kind];
  if (!a) throw new Error(`no adapter for provider kind ${String(kind)}`);
  return a;
}

export function isProviderKind(v: string): v is ProviderKind {
  return (PROVIDER_KINDS as readonly string[]).includes(v);
}

export { anthropicAdapter, geminiAdapter, openaiAdapter, openaiCompatibleAdapter };
