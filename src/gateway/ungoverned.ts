import { monthOf, type Clock } from '../lib/clock.ts';
import type { Admission, AdmitInput, CallContext, Governance, MonthView } from './governance.ts';

/**
 * Placeholder used until governance/metering is wired: a valid key is enough, nothing is
 * reserved or recorded, costs are 0. Replaced in the container by governance/.
 */
export class Ungoverned implements Governance {
  constructor(private readonly clock: Clock) {}
  async admit(_ctx: CallContext, _input: AdmitInput): Promise<Admission> {
    const month: MonthView = {
      month: monthOf(this.clock.now()),
      cap_cents: 0,
      spent_cents: 0,
      customer_cap_cents: 0,
      customer_spent_cents: 0,
      key_cap_cents: 0,
      key_spent_cents: 0,
    };
    return {
      month,
      settle: async () => ({ cost_micros: 0, cost_cents: 0, month }),
      release: async () => undefined,
    };
  }
}
