import { AppError } from '../lib/errors.ts';
import type { LaneService } from './lanes.ts';
import type { Route } from './types.ts';
import { BUILTIN_PROVIDERS, type UpstreamRegistry } from './upstreams.ts';

/** The seed's own message, kept verbatim as the start of ours. */
export const UNKNOWN_PROVIDER_MESSAGE = 'Unknown provider. Use openai|anthropic|gemini.';

/** Vendor model-name families, for bare model names on /v1 (`gpt-4o-mini` → openai). */
const VENDOR_FAMILIES: [RegExp, string][] = [
  [/^(gpt-|chatgpt-|o\d|text-|davinci|babbage|codex-)/, 'openai'],
  [/^claude-/, 'anthropic'],
  [/^(gemini-|gemma-|learnlm-)/, 'gemini'],
];

/**
 * Turns what the client asked for into an ordered list of upstream targets.
 *
 * Seed surfaces send `{provider, model}`:
 *   1. an active lane with that exact (provider, model) wins;
 *   2. otherwise the provider must be an upstream (built-in or admin-registered) → one target;
 *   3. otherwise 400 with the seed's "Unknown provider" message.
 *
 * The OpenAI-compatible surface sends one `model` string, resolved in this order:
 *   1. `<provider>/<model>` when the part before the first `/` is a lane provider or an
 *      upstream name (`kaixu/kaixu-chat`, `openai/gpt-4o`, `openrouter/meta-llama/llama-3-8b`);
 *   2. a lane's public model name (`kaixu-chat`); if several lanes share it, the oldest wins;
 *   3. a vendor model name by family prefix: `gpt-*`, `o1…`, `chatgpt-*` → openai,
 *      `claude-*` → anthropic, `gemini-*`/`gemma-*` → gemini;
 *   4. otherwise 400 UNKNOWN_MODEL.
 *
 * Targets whose upstream is not configured (built-in without its API key) or inactive are
 * dropped; if none remain the call fails with 501 NOT_CONFIGURED before anything is sent.
 */
export class LaneRouter {
  constructor(
    private readonly lanes: LaneService,
    private readonly upstreams: UpstreamRegistry,
  ) {}

  async resolve(rawProvider: string, model: string): Promise<Route> {
    const provider = rawProvider.trim().toLowerCase();
    const requested = { provider, model };
    const lane = await this.lanes.find(provider, model);
    if (lane) return { requested, lane, targets: await this.usable(lane.targets, `${lane.provider}/${lane.model}`) };

    if (await this.upstreams.get(provider)) {
      return { requested, lane: null, targets: await this.usable([{ provider, model }], provider) };
    }

    const laneProviders = [...new Set((await this.lanes.active()).map((l) => l.provider))];
    if (laneProviders.includes(provider)) {
      const models = (await this.lanes.active()).filter((l) => l.provider === provider).map((l) => l.model);
      throw new AppError('UNKNOWN_MODEL', `Unknown model for provider ${provider}. Use ${models.join('|')}.`, { models, param: 'model' });
    }
    const all = [...new Set([...(await this.upstreams.names()), ...laneProviders])];
    const extra = all.filter((n) => !(BUILTIN_PROVIDERS as readonly string[]).includes(n));
    const message = extra.length ? `${UNKNOWN_PROVIDER_MESSAGE} Also available: ${extra.join(', ')}.` : UNKNOWN_PROVIDER_MESSAGE;
    throw new AppError('UNKNOWN_PROVIDER', message, { providers: all });
  }

  /** The /v1 `model` rule (see the class comment). */
  async resolveModelName(name: string): Promise<Route> {
    const slash = name.indexOf('/');
    if (slash > 0) {
      const prefix = name.slice(0, slash).toLowerCase();
      const rest = name.slice(slash + 1);
      const lanes = await this.lanes.active();
      if (rest && (lanes.some((l) => l.provider === prefix) || (await this.upstreams.get(prefix)))) {
        return this.resolve(prefix, rest);
      }
    }
    const lane = (await this.lanes.active()).find((l) => l.model === name);
    if (lane) {
      return { requested: { provider: lane.provider, model: name }, lane, targets: await this.usable(lane.targets, `${lane.provider}/${lane.model}`) };
    }
    const family = VENDOR_FAMILIES.find(([re]) => re.test(name));
    if (family) return this.resolve(family[1], name);
    throw new AppError(
      'UNKNOWN_MODEL',
      `Unknown model "${name}". Use a lane name (e.g. kaixu-chat), provider/model (e.g. openai/gpt-4o-mini) or a vendor model name (gpt-*, claude-*, gemini-*).`,
      { param: 'model' },
    );
  }

  private async usable(targets: Route['targets'], label: string): Promise<Route['targets']> {
    const out: Route['targets'] = [];
    for (const t of targets) {
      const u = await this.upstreams.get(t.provider);
      if (u?.configured) out.push(t);
    }
    if (!out.length) {
      const hint = targets.length === 1 && (BUILTIN_PROVIDERS as readonly string[]).includes(targets[0]!.provider) ? ` (set ${targets[0]!.provider.toUpperCase()}_API_KEY)` : '';
      throw new AppError('NOT_CONFIGURED', `No configured upstream for ${label}${hint}`);
    }
    return out;
  }
}
