import { checkAllowed, type AllowPolicy } from '../governance/allowlist.ts';
import type { LaneService } from '../lanes/lanes.ts';
import type { UpstreamRegistry } from '../lanes/upstreams.ts';

export interface ModelEntry {
  id: string;
  created: number;
  owned_by: string;
}

/** A priced (provider, model): only priced models can be metered, so only those are callable. */
export interface PricedModel {
  provider: string;
  model: string;
  /** Epoch ms shown as `created`. */
  since: number;
}

function allowed(policy: AllowPolicy, provider: string, model: string): boolean {
  try {
    checkAllowed(policy, provider, model);
    return true;
  } catch {
    return false;
  }
}

/**
 * The models a key may call, for GET /v1/models — the same conditions admission applies:
 * - an active lane, by its public model name, when the key's allowlist admits the lane's public
 *   name and every configured target, every configured target is priced, and one exists;
 * - every priced vendor model whose upstream is configured and that the allowlist admits,
 *   as `provider/model`.
 * Each id is accepted as-is by POST /v1/chat/completions (see lanes/router.ts).
 */
export async function listModels(d: { lanes: LaneService; upstreams: UpstreamRegistry }, policy: AllowPolicy, priced: PricedModel[]): Promise<ModelEntry[]> {
  const configured = new Set<string>();
  for (const name of await d.upstreams.names()) if ((await d.upstreams.get(name))?.configured) configured.add(name);
  const price = new Set(priced.map((p) => `${p.provider}\u0000${p.model}`));
  const callable = (provider: string, model: string) => price.has(`${provider}\u0000${model}`) && allowed(policy, provider, model);

  const out: ModelEntry[] = [];
  const seen = new Set<string>();
  for (const lane of await d.lanes.active()) {
    if (seen.has(lane.model) || !allowed(policy, lane.provider, lane.model)) continue;
    const targets = lane.targets.filter((t) => configured.has(t.provider));
    if (!targets.length || !targets.every((t) => callable(t.provider, t.model))) continue;
    seen.add(lane.model);
    out.push({ id: lane.model, created: Math.floor(lane.created_at / 1000), owned_by: lane.display_provider ?? lane.provider });
  }
  for (const p of priced) {
    const id = `${p.provider}/${p.model}`;
    if (seen.has(id) || !configured.has(p.provider) || !callable(p.provider, p.model)) continue;
    seen.add(id);
    out.push({ id, created: Math.floor(p.since / 1000), owned_by: p.provider });
  }
  return out;
}
