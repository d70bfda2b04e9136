import { roleAtLeast } from '../../keys/key-material.ts';
import type { ApiKey } from '../../keys/policy.ts';
import type { InvoiceRecord } from './types.ts';

/**
 * What a key holder sees of the customer's invoice: the customer totals always; the per-key
 * lines of every key only for account-level keys (role admin or owner, e.g. the master key),
 * otherwise just the calling key's own line. Sub-key holders never see other keys' spend.
 */
export function forKeyHolder(rec: InvoiceRecord, key: ApiKey): InvoiceRecord {
  if (roleAtLeast(key.role, 'admin')) return rec;
  return { ...rec, snapshot: { ...rec.snapshot, keys: rec.snapshot.keys.filter((k) => k.api_key_id === key.id) } };
}
