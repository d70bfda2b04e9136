import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.ts';
import type { Db } from '../storage/db.ts';
import { monitorView } from './store.ts';

const DAY_MS = 86_400_000;

export interface RetentionOptions {
  /** Directory for NDJSON archives (DATA_DIR/monitor-archive); undefined = delete without archiving. */
  archiveDir?: string;
  batchSize?: number;
}

export interface PruneResult {
  days: number;
  cutoff: number;
  deleted: number;
  archived: number;
  archive_files: string[];
}

/**
 * Deletes monitor events older than N days. With an archive directory, rows are first written
 * as NDJSON batches `<dir>/<YYYY-MM-DD of first row>/batch-<firstId>-<lastId>.ndjson`
 * (written to a temp name, then renamed) and each batch is deleted only after its file exists,
 * so a crash between the two re-archives the same ids on the next run instead of losing them.
 */
export class MonitorRetention {
  private readonly batchSize: number;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly opts: RetentionOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 2_000;
  }

  async prune(days: number): Promise<PruneResult> {
    const cutoff = this.clock.now() - days * DAY_MS;
    if (!this.opts.archiveDir) {
      const r = await this.db.deleteFrom('monitor_events').where('created_at', '<', cutoff).executeTakeFirst();
      return { days, cutoff, deleted: Number(r.numDeletedRows), archived: 0, archive_files: [] };
    }
    const out: PruneResult = { days, cutoff, deleted: 0, archived: 0, archive_files: [] };
    for (;;) {
      const rows = await this.db.selectFrom('monitor_events').selectAll().where('created_at', '<', cutoff).orderBy('id').limit(this.batchSize).execute();
      if (!rows.length) break;
      const first = Number(rows[0]!.id);
      const last = Number(rows[rows.length - 1]!.id);
      const day = new Date(Number(rows[0]!.created_at)).toISOString().slice(0, 10);
      const dir = join(this.opts.archiveDir, day);
      await mkdir(dir, { recursive: true });
      const file = join(dir, `batch-${first}-${last}.ndjson`);
      await writeFile(`${file}.tmp`, rows.map((r) => JSON.stringify(monitorView(r))).join('\n') + '\n', { mode: 0o600 });
      await rename(`${file}.tmp`, file);
      const del = await this.db
        .deleteFrom('monitor_events')
        .where('id', '>=', first)
        .where('id', '<=', last)
        .where('created_at', '<', cutoff)
        .executeTakeFirst();
      out.archived += rows.length;
      out.deleted += Number(del.numDeletedRows);
      out.archive_files.push(file);
      if (rows.length < this.batchSize) break;
    }
    return out;
  }
}
