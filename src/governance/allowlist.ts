import { AppError } from '../lib/errors.ts';
import type { ModelAllowlist } from '../keys/policy.ts';

export interface AllowPolicy {
  allowedProviders: string[] | null;
  allowedModels: ModelAllowlist | null;
}

/**
 * The seed's allowlist rules (original-contract §3.6): providers — empty/null or containing "*"
 * allows all; models — `{"*":["*"]}` all, `{provider:["*"]}` any model of that provider, a
 * provider missing from a non-empty object is refused. Throws 403 with the seed messages.
 */
export function checkAllowed(p: AllowPolicy, provider: string, model: string): void {
  const providers = p.allowedProviders;
  if (providers && providers.length > 0 && !providers.includes('*') && !providers.includes(provider)) {
    throw new AppError('PROVIDER_NOT_ALLOWED', `Provider not allowed for this key (${provider})`, { provider });
  }
  const models = p.allowedModels;
  if (!models || Object.keys(models).length === 0) return;
  const any = models['*'];
  if (any && (any.includes('*') || any.includes(model))) return;
  const list = models[provider];
  if (!list) throw new AppError('PROVIDER_NOT_ALLOWED', `Provider not allowed by model allowlist (${provider})`, { provider });
  if (!list.includes('*') && !list.includes(model)) {
    throw new AppError('MODEL_NOT_ALLOWED', `Model not allowed for this key (${provider}:${model})`, { provider, model });
  }
}
