import type { RouteDeps } from '../../context.ts';
import { registerAdminLanes } from '../admin/lanes.ts';
import { registerAdminUpstreams } from '../admin/upstreams.ts';
import { registerV1ChatCompletions } from '../v1/chat-completions.ts';
import { registerV1Models } from '../v1/models.ts';
import { registerGatewayChat } from './gateway-chat.ts';
import { registerGatewayStream } from './gateway-stream.ts';

/** The chat data plane (seed functions and /v1) and its admin resources (lanes, upstreams). */
export function registerChat(deps: RouteDeps) {
  registerGatewayChat(deps);
  registerGatewayStream(deps);
  registerV1ChatCompletions(deps);
  registerV1Models(deps);
  registerAdminLanes(deps);
  registerAdminUpstreams(deps);
}
