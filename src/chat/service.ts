import type { Governance } from '../gateway/governance.ts';
import { inputTokensUpperBound } from '../providers/tokens.ts';
import { ChatSession, type SessionDeps } from './session.ts';
import type { BeginInput } from './types.ts';

export interface ChatServiceDeps extends SessionDeps {
  /** Read at call time: the container may swap the governance implementation after wiring. */
  governance: () => Governance;
}

/**
 * The chat data plane behind every surface (seed gateway-chat/gateway-stream, /v1).
 * `begin` admits the call (allowlist, seats, rate limit, cap reservation for every target the
 * lane may try) before any upstream is contacted; the returned session runs the call.
 */
export class ChatService {
  constructor(private readonly d: ChatServiceDeps) {}

  async begin(input: BeginInput): Promise<ChatSession> {
    const { route, params } = input;
    const admission = await this.d.governance().admit(
      input.ctx,
      { targets: route.targets, inputTokensUpperBound: inputTokensUpperBound(params.messages), maxOutputTokens: params.max_tokens },
    );
    const first = route.targets[0]!;
    input.info.provider = first.provider;
    input.info.model = first.model;
    return new ChatSession(this.d, input, admission);
  }
}
