import type { Migration } from 'kysely';
import * as m001 from './001_core.ts';
import * as m002 from './002_chat.ts';
import * as m003 from './003_governance.ts';
import * as m004 from './004_billing.ts';
import * as m005 from './005_observability.ts';
import * as m006 from './006_ledger_pages.ts';
import * as m007 from './007_pg_admit_batch.ts';
import * as m008 from './008_ledger_rowid.ts';
import * as m009 from './009_pg_admit_batch_once.ts';

/**
 * The ordered list of migrations. Each area appends its own file here
 * (002_chat, 003_governance, 004_billing, 005_observability, …); never edit a landed one.
 */
export const migrations: Record<string, Migration> = {
  '001_core': m001,
  '002_chat': m002,
  '003_governance': m003,
  '004_billing': m004,
  '005_observability': m005,
  '006_ledger_pages': m006,
  '007_pg_admit_batch': m007,
  '008_ledger_rowid': m008,
  '009_pg_admit_batch_once': m009,
};
