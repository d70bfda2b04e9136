import type { RouteDeps } from '../../context.ts';
import { registerAdminJobs } from '../admin/jobs.ts';
import { registerAdminTimeline } from '../admin/timeline.ts';
import { registerClientErrorReport } from './client-error-report.ts';
import { registerMonitorEvents } from './events.ts';
import { registerHeartbeatRoutes } from './heartbeat.ts';
import { registerMetrics } from './metrics.ts';
import { registerMonitorStream } from './stream.ts';

/** Observability routes: monitor, live tail, client errors, heartbeat, metrics, jobs, timeline. */
export function registerObservabilityRoutes(deps: RouteDeps): void {
  registerMonitorEvents(deps);
  registerMonitorStream(deps);
  registerClientErrorReport(deps);
  registerHeartbeatRoutes(deps);
  registerMetrics(deps);
  registerAdminJobs(deps);
  registerAdminTimeline(deps);
}
