import type { Container } from '../../src/app/container.ts';
import type { Admission, AdmitInput, CallContext, Governance, SettleInput } from '../../src/gateway/governance.ts';

export interface CallRecord {
  ctx: CallContext;
  input: AdmitInput;
  settles: SettleInput[];
  releases: number;
  /** Wall-clock ms when admit returned (ordering against upstream requests). */
  admittedAt: number;
}

/**
 * Wraps the container's real governance and records the contract the chat service must keep:
 * admit before any upstream, then exactly one settle or release. Every call is passed through.
 */
export function recordGovernance(c: Container): { calls: CallRecord[]; restore(): void } {
  const inner = c.governance;
  const calls: CallRecord[] = [];
  const wrapper: Governance = {
    async admit(ctx, input) {
      const a = await inner.admit(ctx, input);
      const rec: CallRecord = { ctx, input, settles: [], releases: 0, admittedAt: Date.now() };
      calls.push(rec);
      const wrapped: Admission = {
        month: a.month,
        rateLimit: a.rateLimit,
        async settle(s) {
          rec.settles.push(s);
          return a.settle(s);
        },
        async release() {
          rec.releases++;
          return a.release();
        },
      };
      return wrapped;
    },
  };
  c.governance = wrapper;
  return { calls, restore: () => void (c.governance = inner) };
}

/** Resolves once the call has been settled or released (streams finish after the response). */
export async function finished(rec: () => CallRecord | undefined, timeoutMs = 3_000): Promise<CallRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = rec();
    if (r && r.settles.length + r.releases > 0) return r;
    if (Date.now() > deadline) throw new Error('call was neither settled nor released');
    await new Promise((res) => setTimeout(res, 5));
  }
}
