import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { envSchema, type Config, type Env, type Secrets } from './schema.ts';
import { VERSION } from './version.ts';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Empty strings count as missing. */
function clean(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.trim() !== '') out[k] = v.trim();
  return out;
}

export function parseEnv(raw: Record<string, string | undefined> = process.env): Env {
  const result = envSchema.safeParse(clean(raw));
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  return result.data;
}

const SECRET_FILE = 'secrets.json';
const strong = (bytes = 32) => randomBytes(bytes).toString('base64url');

export interface SecretsOutcome {
  secrets: Secrets;
  /** Set when this start generated the admin password; print it once. */
  generatedAdminPassword?: string;
  file?: string;
}

/**
 * Secrets come from the environment; any that are missing are generated once and kept
 * in DATA_DIR/secrets.json (mode 0600) so restarts keep the same keys.
 */
export function resolveSecrets(env: Env): SecretsOutcome {
  const fromEnv: Partial<Secrets> = {
    adminPassword: env.ADMIN_PASSWORD,
    jwtSecret: env.JWT_SECRET,
    keyPepper: env.KEY_PEPPER,
    encryptionKey: env.ENCRYPTION_KEY,
  };
  if (fromEnv.adminPassword && fromEnv.jwtSecret && fromEnv.keyPepper && fromEnv.encryptionKey) {
    return { secrets: fromEnv as Secrets };
  }
  const dir = resolve(env.DATA_DIR);
  const fsProblem = (what: string, e: unknown) =>
    new ConfigError([`DATA_DIR: cannot ${what} ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); secrets that are not in the environment are kept there`]);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw fsProblem('create', e);
  }
  const file = join(dir, SECRET_FILE);
  const stored = existsSync(file) ? readSecretsFile(file) : {};
  let generatedAdminPassword: string | undefined;
  const merged: Secrets = {
    adminPassword: fromEnv.adminPassword ?? stored.adminPassword ?? (generatedAdminPassword = strong(18)),
    jwtSecret: fromEnv.jwtSecret ?? stored.jwtSecret ?? strong(48),
    keyPepper: fromEnv.keyPepper ?? stored.keyPepper ?? strong(48),
    encryptionKey: fromEnv.encryptionKey ?? stored.encryptionKey ?? strong(32),
  };
  const toStore: Partial<Secrets> = {};
  for (const k of Object.keys(merged) as (keyof Secrets)[]) if (!fromEnv[k]) toStore[k] = merged[k];
  try {
    writeFileSync(file, JSON.stringify(toStore, null, 2), { mode: 0o600 });
    chmodSync(file, 0o600);
  } catch (e) {
    throw fsProblem('write secrets.json in', e);
  }
  return { secrets: merged, generatedAdminPassword, file };
}

const storedSecretsSchema = z
  .object({
    adminPassword: z.string().min(12),
    jwtSecret: z.string().min(32),
    keyPepper: z.string().min(32),
    encryptionKey: z.string().min(32),
  })
  .partial();

/** The generated-secrets file, validated: a corrupt file stops the boot instead of minting new keys. */
function readSecretsFile(file: string): Partial<Secrets> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError([`${file}: cannot be read as JSON (${(e as Error).name}); fix or remove it`]);
  }
  const res = storedSecretsSchema.safeParse(raw);
  if (!res.success) throw new ConfigError(res.error.issues.map((i) => `${file}: ${i.path.join('.') || '(root)'}: ${i.message}`));
  return res.data;
}

/** The database a parsed environment points at (no secrets needed: `kaixu migrate` uses this). */
export function databaseOf(env: Env): Config['database'] {
  const u = env.DATABASE_URL;
  if (u && /^postgres(ql)?:\/\//.test(u)) return { kind: 'postgres', url: u };
  if (u) {
    const p = u.replace(/^(sqlite|file):(\/\/)?/, '');
    return { kind: 'sqlite', path: p === ':memory:' || isAbsolute(p) ? p : resolve(p) };
  }
  return { kind: 'sqlite', path: join(resolve(env.DATA_DIR), 'kaixu.sqlite') };
}

export function buildConfig(env: Env, secrets: Secrets): Config {
  const cfg = {
    ...env,
    secrets: Object.freeze({ ...secrets }),
    database: Object.freeze(databaseOf(env)),
    nodeId: env.NODE_ID ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
    version: VERSION,
  };
  return Object.freeze(cfg) as Config;
}

/** Boot path: parse, resolve secrets, freeze. Throws ConfigError listing every problem. */
export function loadConfig(raw: Record<string, string | undefined> = process.env): Config & { _generatedAdminPassword?: string } {
  const env = parseEnv(raw);
  const { secrets, generatedAdminPassword } = resolveSecrets(env);
  const cfg = buildConfig(env, secrets);
  if (!generatedAdminPassword) return cfg;
  // Non-enumerable, so spreading or logging the config never carries it along.
  return Object.freeze(Object.defineProperty({ ...cfg }, '_generatedAdminPassword', { value: generatedAdminPassword, enumerable: false })) as Config & {
    _generatedAdminPassword?: string;
  };
}

/** Tests and tools: a config from explicit values, with fixed secrets and no files. */
export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  const env = parseEnv({ DATA_DIR: '/nonexistent-kaixu-data', NODE_ENV: 'test', LOG_LEVEL: 'silent', ...overrides });
  return buildConfig(env, {
    adminPassword: overrides.ADMIN_PASSWORD ?? 'test-admin-password-123',
    jwtSecret: overrides.JWT_SECRET ?? 'test-jwt-secret-0123456789abcdefghijklmnop',
    keyPepper: overrides.KEY_PEPPER ?? 'test-key-pepper-0123456789abcdefghijklmnop',
    encryptionKey: overrides.ENCRYPTION_KEY ?? 'test-encryption-key-0123456789abcdefghij',
  });
}
