import type { LaneTarget, Route } from '../lanes/types.ts';
import type { ReportedNames } from './types.ts';

/**
 * The provider/model a response shows. A lane with `report_public` shows its public names
 * (display name for the provider) and hides the vendor; otherwise the target that answered is
 * shown. When a lane answered, the names the client asked for are added.
 */
export function reportedNames(route: Route, target: LaneTarget): ReportedNames {
  const lane = route.lane;
  if (!lane) return { provider: target.provider, model: target.model };
  const requested = { requested_provider: route.requested.provider, requested_model: route.requested.model };
  if (lane.report_public) return { provider: lane.display_provider ?? lane.provider, model: lane.model, ...requested };
  return { provider: target.provider, model: target.model, ...requested };
}
