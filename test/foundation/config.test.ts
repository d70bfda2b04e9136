import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseEnv } from '../../src/config/index.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'kaixu-config-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const problemsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('lists every problem at once, naming each variable', () => {
    const problems = problemsOf(() =>
      parseEnv({
        PORT: 'eighty',
        LOG_LEVEL: 'loud',
        DATABASE_URL: 'mysql://db/x',
        ADMIN_PASSWORD: 'short',
        JWT_SECRET: 'too-short',
        ALLOWED_ORIGINS: 'https://ok.example',
        ADMIN_PASSWORD_HEADER: 'sometimes',
        MAX_BODY_BYTES: '10',
        OPENAI_BASE_URL: 'not a url',
        DEFAULT_CUSTOMER_CAP_CENTS: '-5',
      }),
    );
    const vars = problems.map((p) => p.split(':')[0]);
    expect(vars.sort()).toEqual(
      ['ADMIN_PASSWORD', 'ADMIN_PASSWORD_HEADER', 'DATABASE_URL', 'DEFAULT_CUSTOMER_CAP_CENTS', 'JWT_SECRET', 'LOG_LEVEL', 'MAX_BODY_BYTES', 'OPENAI_BASE_URL', 'PORT'].sort(),
    );
    const err = (() => {
      try {
        parseEnv({ PORT: 'eighty', LOG_LEVEL: 'loud' });
      } catch (e) {
        return e as Error;
      }
    })()!;
    expect(err.message).toContain('PORT');
    expect(err.message).toContain('LOG_LEVEL');
    // Secret values are never echoed back in the problem list.
    expect(problems.join('\n')).not.toContain('too-short');
  });

  it('treats empty strings as missing and applies the documented defaults', () => {
    const env = parseEnv({ PORT: '', DATABASE_URL: '  ', ADMIN_PASSWORD: '', LOG_LEVEL: '', ALLOWED_ORIGINS: '', DEFAULT_RPM_LIMIT: '' });
    expect(env.PORT).toBe(8787);
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.ADMIN_PASSWORD).toBeUndefined();
    expect(env.LOG_LEVEL).toBe('info');
    expect(env.ALLOWED_ORIGINS).toEqual([]);
    expect(env.DEFAULT_CUSTOMER_CAP_CENTS).toBe(2000);
    expect(env.DEFAULT_RPM_LIMIT).toBe(120);
    expect(env.DATA_DIR).toBe('./data');
    expect(env.ADMIN_PASSWORD_HEADER).toBe(false);
    expect(parseEnv({ ALLOWED_ORIGINS: 'https://a.example, https://b.example,' }).ALLOWED_ORIGINS).toEqual(['https://a.example', 'https://b.example']);
  });

  it('is frozen once built', () => {
    const cfg = loadConfig({ DATA_DIR: tempDir(), LOG_LEVEL: 'silent' });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(() => {
      (cfg as { PORT: number }).PORT = 1;
    }).toThrow();
    expect(Object.isFrozen(cfg.secrets)).toBe(true);
  });

  it('generates secrets on first start into DATA_DIR/secrets.json (0600) and reuses them after', () => {
    const dir = tempDir();
    const first = loadConfig({ DATA_DIR: dir, ADMIN_PASSWORD: '' });
    const generated = (first as { _generatedAdminPassword?: string })._generatedAdminPassword;
    expect(generated).toBeTruthy();
    expect(generated!.length).toBeGreaterThanOrEqual(20);
    expect(first.secrets.adminPassword).toBe(generated);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.keys(first)).not.toContain('_generatedAdminPassword');
    expect({ ...first }.PORT).toBe(8787);
    for (const s of [first.secrets.jwtSecret, first.secrets.keyPepper, first.secrets.encryptionKey]) expect(s.length).toBeGreaterThanOrEqual(32);
    const file = join(dir, 'secrets.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    expect(stored).toEqual(first.secrets);

    const second = loadConfig({ DATA_DIR: dir });
    expect((second as { _generatedAdminPassword?: string })._generatedAdminPassword).toBeUndefined();
    expect(second.secrets).toEqual(first.secrets);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    // There is no default password: another data dir gets another one.
    const other = loadConfig({ DATA_DIR: tempDir() });
    expect(other.secrets.adminPassword).not.toBe(first.secrets.adminPassword);
    expect(other.secrets.jwtSecret).not.toBe(first.secrets.jwtSecret);
  });

  it('keeps secrets given in the environment out of the file and fixes a loose file mode', () => {
    const dir = tempDir();
    const cfg = loadConfig({ DATA_DIR: dir, ADMIN_PASSWORD: 'operator-chosen-password', KEY_PEPPER: 'p'.repeat(40) });
    expect(cfg.secrets.adminPassword).toBe('operator-chosen-password');
    expect((cfg as { _generatedAdminPassword?: string })._generatedAdminPassword).toBeUndefined();
    const file = join(dir, 'secrets.json');
    const stored = readFileSync(file, 'utf8');
    expect(stored).not.toContain('operator-chosen-password');
    expect(stored).not.toContain('p'.repeat(40));
    expect(Object.keys(JSON.parse(stored) as object).sort()).toEqual(['encryptionKey', 'jwtSecret']);
    writeFileSync(file, stored, { mode: 0o644 });
    loadConfig({ DATA_DIR: dir, ADMIN_PASSWORD: 'operator-chosen-password', KEY_PEPPER: 'p'.repeat(40) });
    expect(statSync(file).mode & 0o777).toBe(0o600);

    // All four from the environment: no file at all.
    const none = tempDir();
    loadConfig({ DATA_DIR: none, ADMIN_PASSWORD: 'a'.repeat(12), JWT_SECRET: 'j'.repeat(32), KEY_PEPPER: 'k'.repeat(32), ENCRYPTION_KEY: 'e'.repeat(32) });
    expect(() => statSync(join(none, 'secrets.json'))).toThrow();
  });

  it('reports a corrupt or unreadable secrets file as a ConfigError', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'secrets.json'), '{not json', { mode: 0o600 });
    const problems = problemsOf(() => loadConfig({ DATA_DIR: dir }));
    expect(problems.join('\n')).toMatch(/secrets\.json/);
    const bad = tempDir();
    writeFileSync(join(bad, 'secrets.json'), JSON.stringify({ adminPassword: 'x', jwtSecret: 5 }), { mode: 0o600 });
    expect(problemsOf(() => loadConfig({ DATA_DIR: bad })).join('\n')).toMatch(/secrets\.json/);
    // A DATA_DIR that cannot be created (a file is in the way).
    const blocker = join(tempDir(), 'file');
    writeFileSync(blocker, 'x');
    expect(problemsOf(() => loadConfig({ DATA_DIR: join(blocker, 'data') })).join('\n')).toMatch(/^DATA_DIR: cannot create/);
  });

  it('selects the database from DATABASE_URL', () => {
    const dir = tempDir();
    expect(loadConfig({ DATA_DIR: dir }).database).toEqual({ kind: 'sqlite', path: join(dir, 'kaixu.sqlite') });
    expect(loadConfig({ DATA_DIR: dir, DATABASE_URL: 'postgres://u@h:5432/db' }).database).toEqual({ kind: 'postgres', url: 'postgres://u@h:5432/db' });
    expect(loadConfig({ DATA_DIR: dir, DATABASE_URL: 'sqlite:/tmp/x.sqlite' }).database).toEqual({ kind: 'sqlite', path: '/tmp/x.sqlite' });
  });
});
