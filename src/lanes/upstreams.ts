import type { Updateable } from 'kysely';
import type { AuditLog } from '../audit/audit.ts';
import type { InvalidationBus } from '../cluster/invalidation.ts';
import { iso, type Clock } from '../lib/clock.ts';
import type { SecretBox } from '../lib/crypto.ts';
import { AppError } from '../lib/errors.ts';
import type { Db } from '../storage/db.ts';
import { isUniqueViolation } from '../storage/db.ts';
import type { UpstreamsTable } from '../storage/types.ts';
import type { Actor } from '../keys/service.ts';
import type { ProviderKind } from '../providers/types.ts';
import { ReloadingCache } from './reload-cache.ts';
import type { Upstream, UpstreamTimeouts, UpstreamView } from './types.ts';

export const BUILTIN_PROVIDERS = ['openai', 'anthropic', 'gemini'] as const;
export type BuiltinProvider = (typeof BUILTIN_PROVIDERS)[number];
export const isBuiltin = (name: string): name is BuiltinProvider => (BUILTIN_PROVIDERS as readonly string[]).includes(name);

/** The config values the registry needs (a slice of Config, so tests can pass plain objects). */
export interface UpstreamDefaults {
  OPENAI_API_KEY?: string;
  OPENAI_BASE_URL: string;
  ANTHROPIC_API_KEY?: string;
  ANTHROPIC_BASE_URL: string;
  GEMINI_API_KEY?: string;
  GEMINI_BASE_URL: string;
  UPSTREAM_CONNECT_TIMEOUT_MS: number;
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: number;
  UPSTREAM_IDLE_TIMEOUT_MS: number;
}

export interface UpstreamInput {
  name: string;
  base_url: string;
  api_key?: string | null;
  headers?: Record<string, string> | null;
  connect_timeout_ms?: number | null;
  first_byte_timeout_ms?: number | null;
  idle_timeout_ms?: number | null;
  is_active?: boolean;
}
export type UpstreamPatch = Partial<Omit<UpstreamInput, 'name'>>;

const trimSlash = (u: string) => u.replace(/\/+$/, '');

/**
 * Every upstream the gateway can call: the three built-in vendors from config plus
 * OpenAI-compatible upstreams the admin registers (credential and extra headers sealed with
 * SecretBox). Registered rows are cached in memory and reloaded when the InvalidationBus
 * announces an `upstreams` change, on this node or another.
 */
export class UpstreamRegistry {
  private readonly cache = new ReloadingCache(async () => {
    const rows = await this.db.selectFrom('upstreams').selectAll().execute();
    const map = new Map<string, Upstream>();
    for (const b of this.builtins()) map.set(b.name, b);
    for (const r of rows) map.set(r.name, this.fromRow(r));
    return map;
  });

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly box: SecretBox,
    private readonly audit: AuditLog,
    private readonly bus: InvalidationBus,
    private readonly cfg: UpstreamDefaults,
  ) {
    bus.on((kind) => {
      if (kind === 'upstreams' || kind === 'all') this.cache.invalidate();
    });
  }

  invalidate(): void {
    this.cache.invalidate();
  }

  private get defaults(): UpstreamTimeouts {
    return { connectMs: this.cfg.UPSTREAM_CONNECT_TIMEOUT_MS, firstByteMs: this.cfg.UPSTREAM_FIRST_BYTE_TIMEOUT_MS, idleMs: this.cfg.UPSTREAM_IDLE_TIMEOUT_MS };
  }

  private builtins(): Upstream[] {
    const mk = (name: BuiltinProvider, baseUrl: string, apiKey: string | undefined): Upstream => ({
      name,
      kind: name as ProviderKind,
      builtin: true,
      configured: !!apiKey,
      active: true,
      target: { kind: name as ProviderKind, provider: name, baseUrl: trimSlash(baseUrl), apiKey },
      timeouts: this.defaults,
    });
    return [
      mk('openai', this.cfg.OPENAI_BASE_URL, this.cfg.OPENAI_API_KEY),
      mk('anthropic', this.cfg.ANTHROPIC_BASE_URL, this.cfg.ANTHROPIC_API_KEY),
      mk('gemini', this.cfg.GEMINI_BASE_URL, this.cfg.GEMINI_API_KEY),
    ];
  }

  private fromRow(r: UpstreamsTable): Upstream {
    const d = this.defaults;
    const apiKey = r.api_key_sealed ? this.box.open(r.api_key_sealed) : undefined;
    const headers = r.headers_sealed ? (JSON.parse(this.box.open(r.headers_sealed)) as Record<string, string>) : undefined;
    return {
      name: r.name,
      kind: 'openai-compatible',
      builtin: false,
      configured: true,
      active: Number(r.is_active) === 1,
      target: { kind: 'openai-compatible', provider: r.name, baseUrl: trimSlash(r.base_url), apiKey, headers },
      timeouts: {
        connectMs: r.connect_timeout_ms == null ? d.connectMs : Number(r.connect_timeout_ms),
        firstByteMs: r.first_byte_timeout_ms == null ? d.firstByteMs : Number(r.first_byte_timeout_ms),
        idleMs: r.idle_timeout_ms == null ? d.idleMs : Number(r.idle_timeout_ms),
      },
    };
  }

  /** An active upstream by name (built-in or registered), or null. */
  async get(name: string): Promise<Upstream | null> {
    const u = (await this.cache.get()).get(name);
    return u && u.active ? u : null;
  }

  /** Names of active upstreams, built-ins first. */
  async names(): Promise<string[]> {
    return [...(await this.cache.get()).values()].filter((u) => u.active).map((u) => u.name);
  }

  // ---- admin --------------------------------------------------------------------------------

  private view(u: Upstream, row?: UpstreamsTable): UpstreamView {
    return {
      name: u.name,
      kind: u.kind,
      builtin: u.builtin,
      base_url: u.target.baseUrl,
      has_api_key: !!u.target.apiKey,
      header_names: Object.keys(u.target.headers ?? {}),
      connect_timeout_ms: row?.connect_timeout_ms == null ? null : Number(row.connect_timeout_ms),
      first_byte_timeout_ms: row?.first_byte_timeout_ms == null ? null : Number(row.first_byte_timeout_ms),
      idle_timeout_ms: row?.idle_timeout_ms == null ? null : Number(row.idle_timeout_ms),
      is_active: u.active,
      configured: u.configured,
      created_at: row ? iso(Number(row.created_at)) : null,
      updated_at: row ? iso(Number(row.updated_at)) : null,
    };
  }

  async list(): Promise<UpstreamView[]> {
    const rows = await this.db.selectFrom('upstreams').selectAll().orderBy('name').execute();
    return [...this.builtins().map((b) => this.view(b)), ...rows.map((r) => this.view(this.fromRow(r), r))];
  }

  async getView(name: string): Promise<UpstreamView> {
    const b = this.builtins().find((x) => x.name === name);
    if (b) return this.view(b);
    const r = await this.db.selectFrom('upstreams').selectAll().where('name', '=', name).executeTakeFirst();
    if (!r) throw new AppError('NOT_FOUND', 'Upstream not found');
    return this.view(this.fromRow(r), r);
  }

  private sealFields(p: UpstreamPatch): Updateable<UpstreamsTable> {
    const row: Updateable<UpstreamsTable> = {};
    if (p.base_url !== undefined) row.base_url = trimSlash(p.base_url);
    if (p.api_key !== undefined) row.api_key_sealed = p.api_key ? this.box.seal(p.api_key) : null;
    if (p.headers !== undefined) row.headers_sealed = p.headers && Object.keys(p.headers).length ? this.box.seal(JSON.stringify(p.headers)) : null;
    if (p.connect_timeout_ms !== undefined) row.connect_timeout_ms = p.connect_timeout_ms;
    if (p.first_byte_timeout_ms !== undefined) row.first_byte_timeout_ms = p.first_byte_timeout_ms;
    if (p.idle_timeout_ms !== undefined) row.idle_timeout_ms = p.idle_timeout_ms;
    if (p.is_active !== undefined) row.is_active = p.is_active ? 1 : 0;
    return row;
  }

  /** What changed, for the audit trail (never the secret values). */
  private static summary(p: UpstreamPatch): string {
    return Object.keys(p).join(',');
  }

  async create(input: UpstreamInput, by: Actor): Promise<UpstreamView> {
    if (isBuiltin(input.name)) throw new AppError('CONFLICT', `"${input.name}" is a built-in provider; configure it through the environment`, { field: 'name' });
    const now = this.clock.now();
    try {
      await this.db.transaction().execute(async (trx) => {
        const row = {
          name: input.name,
          kind: 'openai-compatible',
          base_url: '',
          api_key_sealed: null,
          headers_sealed: null,
          connect_timeout_ms: null,
          first_byte_timeout_ms: null,
          idle_timeout_ms: null,
          is_active: 1,
          created_at: now,
          updated_at: now,
          ...this.sealFields(input),
        } as UpstreamsTable;
        await trx.insertInto('upstreams').values(row).execute();
        await this.bus.record(trx, 'upstreams', input.name);
        await this.audit.record({ ...by, action: 'UPSTREAM_CREATE', target: `upstream:${input.name}`, summary: `${row.base_url} (${UpstreamRegistry.summary(input)})` }, trx);
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw new AppError('CONFLICT', 'An upstream with this name already exists', { field: 'name' });
      throw e;
    }
    await this.bus.emit('upstreams', input.name);
    return this.getView(input.name);
  }

  async update(name: string, patch: UpstreamPatch, by: Actor): Promise<UpstreamView> {
    if (isBuiltin(name)) throw new AppError('CONFLICT', `"${name}" is a built-in provider; configure it through the environment`);
    await this.db.transaction().execute(async (trx) => {
      const res = await trx.updateTable('upstreams').set({ ...this.sealFields(patch), updated_at: this.clock.now() }).where('name', '=', name).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw new AppError('NOT_FOUND', 'Upstream not found');
      await this.bus.record(trx, 'upstreams', name);
      await this.audit.record({ ...by, action: 'UPSTREAM_UPDATE', target: `upstream:${name}`, summary: UpstreamRegistry.summary(patch) }, trx);
    });
    await this.bus.emit('upstreams', name);
    return this.getView(name);
  }

  async remove(name: string, by: Actor): Promise<void> {
    if (isBuiltin(name)) throw new AppError('CONFLICT', `"${name}" is a built-in provider and cannot be deleted`);
    await this.db.transaction().execute(async (trx) => {
      // A lane still routing to this upstream would silently lose a target: refuse instead.
      const lanes = await trx.selectFrom('lanes').select(['id', 'targets']).execute();
      const users = lanes.filter((l) => (JSON.parse(l.targets) as { provider: string }[]).some((t) => t.provider === name)).map((l) => l.id);
      if (users.length) throw new AppError('CONFLICT', `Upstream "${name}" is a target of lanes: ${users.join(', ')}`, { lanes: users });
      const res = await trx.deleteFrom('upstreams').where('name', '=', name).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw new AppError('NOT_FOUND', 'Upstream not found');
      await this.bus.record(trx, 'upstreams', name);
      await this.audit.record({ ...by, action: 'UPSTREAM_DELETE', target: `upstream:${name}` }, trx);
    });
    await this.bus.emit('upstreams', name);
  }
}
