import type { AuditLog } from '../audit/audit.ts';
import type { InvalidationBus } from '../cluster/invalidation.ts';
import type { Clock } from '../lib/clock.ts';
import { AppError } from '../lib/errors.ts';
import { newId } from '../lib/ids.ts';
import type { Actor } from '../keys/service.ts';
import { isUniqueViolation, type Db } from '../storage/db.ts';
import type { LanesTable } from '../storage/types.ts';
import type { Lane, LaneTarget } from './types.ts';
import { ReloadingCache } from './reload-cache.ts';
import type { UpstreamRegistry } from './upstreams.ts';

export interface LaneInput {
  provider: string;
  model: string;
  targets: LaneTarget[];
  report_public?: boolean;
  display_provider?: string | null;
  is_active?: boolean;
}
export type LanePatch = Partial<LaneInput>;

export const laneKey = (provider: string, model: string) => `${provider}\u0000${model}`;

export function laneFromRow(r: LanesTable): Lane {
  return {
    id: r.id,
    provider: r.provider,
    model: r.model,
    targets: JSON.parse(r.targets) as LaneTarget[],
    report_public: Number(r.report_public) === 1,
    display_provider: r.display_provider,
    is_active: Number(r.is_active) === 1,
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
  };
}

/**
 * Lanes: public (provider, model) names mapped to an ordered list of upstream targets.
 * All lanes are held in memory (the table is small and read on every call) and reloaded when
 * the InvalidationBus announces a `lanes` change.
 */
export class LaneService {
  private readonly cache = new ReloadingCache(() =>
    this.db
      .selectFrom('lanes')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute()
      .then((rows) => rows.map(laneFromRow)),
  );

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
    private readonly bus: InvalidationBus,
    private readonly upstreams: UpstreamRegistry,
  ) {
    bus.on((kind) => {
      if (kind === 'lanes' || kind === 'all') this.cache.invalidate();
    });
  }

  invalidate(): void {
    this.cache.invalidate();
  }

  /** Every lane, oldest first (the order also breaks ties between lanes sharing a model name). */
  all(): Promise<Lane[]> {
    return this.cache.get();
  }

  async active(): Promise<Lane[]> {
    return (await this.all()).filter((l) => l.is_active);
  }

  async find(provider: string, model: string): Promise<Lane | null> {
    return (await this.active()).find((l) => l.provider === provider && l.model === model) ?? null;
  }

  // ---- admin --------------------------------------------------------------------------------

  async get(id: string): Promise<Lane> {
    const r = await this.db.selectFrom('lanes').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new AppError('NOT_FOUND', 'Lane not found');
    return laneFromRow(r);
  }

  /** Targets must name upstreams that exist now (built-in or registered); lanes never chain. */
  private async checkTargets(targets: LaneTarget[]): Promise<void> {
    const known = new Set(await this.upstreams.names());
    for (const [i, t] of targets.entries()) {
      if (!known.has(t.provider)) {
        throw new AppError('VALIDATION_ERROR', `Invalid targets.${i}.provider: unknown upstream "${t.provider}"`, {
          fields: [{ path: `json.targets.${i}.provider`, message: 'unknown upstream', code: 'custom' }],
          upstreams: [...known],
        });
      }
    }
  }

  async create(input: LaneInput, by: Actor): Promise<Lane> {
    await this.checkTargets(input.targets);
    const now = this.clock.now();
    const row: LanesTable = {
      id: newId('lane'),
      provider: input.provider,
      model: input.model,
      targets: JSON.stringify(input.targets),
      report_public: input.report_public ? 1 : 0,
      display_provider: input.display_provider ?? null,
      is_active: input.is_active === false ? 0 : 1,
      created_at: now,
      updated_at: now,
    };
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('lanes').values(row).execute();
        await this.bus.record(trx, 'lanes', row.id);
        await this.audit.record({ ...by, action: 'LANE_CREATE', target: `lane:${row.id}`, summary: `${row.provider}/${row.model} → ${input.targets.map((t) => `${t.provider}/${t.model}`).join(', ')}` }, trx);
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new AppError('CONFLICT', 'A lane with this provider and model already exists', { field: 'model' });
      throw e;
    }
    await this.bus.emit('lanes', row.id);
    return laneFromRow(row);
  }

  async update(id: string, patch: LanePatch, by: Actor): Promise<Lane> {
    if (patch.targets) await this.checkTargets(patch.targets);
    const set: Partial<LanesTable> = { updated_at: this.clock.now() };
    if (patch.provider !== undefined) set.provider = patch.provider;
    if (patch.model !== undefined) set.model = patch.model;
    if (patch.targets !== undefined) set.targets = JSON.stringify(patch.targets);
    if (patch.report_public !== undefined) set.report_public = patch.report_public ? 1 : 0;
    if (patch.display_provider !== undefined) set.display_provider = patch.display_provider;
    if (patch.is_active !== undefined) set.is_active = patch.is_active ? 1 : 0;
    let lane: Lane;
    try {
      lane = await this.db.transaction().execute(async (trx) => {
        const res = await trx.updateTable('lanes').set(set).where('id', '=', id).executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) throw new AppError('NOT_FOUND', 'Lane not found');
        await this.bus.record(trx, 'lanes', id);
        await this.audit.record({ ...by, action: 'LANE_UPDATE', target: `lane:${id}`, summary: Object.keys(patch).join(','), meta: { changes: patch } }, trx);
        return laneFromRow(await trx.selectFrom('lanes').selectAll().where('id', '=', id).executeTakeFirstOrThrow());
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new AppError('CONFLICT', 'A lane with this provider and model already exists', { field: 'model' });
      throw e;
    }
    await this.bus.emit('lanes', id);
    return lane;
  }

  async remove(id: string, by: Actor): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom('lanes').where('id', '=', id).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw new AppError('NOT_FOUND', 'Lane not found');
      await this.bus.record(trx, 'lanes', id);
      await this.audit.record({ ...by, action: 'LANE_DELETE', target: `lane:${id}` }, trx);
    });
    await this.bus.emit('lanes', id);
  }
}
