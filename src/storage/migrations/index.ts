import type { Migration } from 'kysely';
import * as m001 from './001_core.ts';

/**
 * The ordered list of migrations. Each area appends its own file here
 * (002_chat, 003_governance, 004_billing, 005_observability, …); never edit a landed one.
 */
export const migrations: Record<string, Migration> = {
  '001_core': m001,
};
