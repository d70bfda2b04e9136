import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireServeLock } from '../../src/storage/serve-lock.ts';
import { ROOT, tempDir } from './proc.ts';

/** Tries the lock from another process; prints "ok" or the error message. */
function tryFromOtherProcess(dbPath: string, purpose: 'serve' | 'migrate' = 'serve'): string {
  const code = `import('./src/storage/serve-lock.ts').then((m) => { try { m.acquireServeLock(${JSON.stringify(dbPath)}, '${purpose}'); console.log('ok'); } catch (e) { console.log(e.message); } })`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: ROOT, encoding: 'utf8' });
  return r.stdout.trim() || r.stderr.trim();
}

describe('SQLite serve lock', { timeout: 30_000 }, () => {
  const dir = tempDir('kaixu-serve-lock-');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is shared by servers of one process, refuses another process until the last holder releases it', () => {
    const db = join(dir, 'a.sqlite');
    const a = acquireServeLock(db);
    const b = acquireServeLock(db); // a second server in this process shares holds, so it may share the lock
    expect(tryFromOtherProcess(db)).toMatch(new RegExp(`^Another kaixu gateway \\(pid ${process.pid} on .+\\) is serving ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    a.release();
    a.release(); // idempotent: does not drop b's share
    expect(tryFromOtherProcess(db)).toMatch(/^Another kaixu gateway/);
    b.release();
    expect(tryFromOtherProcess(db)).toBe('ok');
    // And this process can take it again.
    acquireServeLock(db).release();
  });

  it('names what holds the file: a server, or a migration to wait for', () => {
    const esc = (p: string) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const db = join(dir, 'm.sqlite');
    const migrating = acquireServeLock(db, 'migrate');
    try {
      expect(tryFromOtherProcess(db)).toMatch(new RegExp(`^\`kaixu migrate\` \\(pid ${process.pid} on .+\\) is migrating ${esc(db)}: start the gateway once it has finished\\.$`));
      expect(tryFromOtherProcess(db, 'migrate')).toMatch(new RegExp(`^Another \`kaixu migrate\` \\(pid ${process.pid} on .+\\) is migrating ${esc(db)}: wait for it to finish\\.$`));
    } finally {
      migrating.release();
    }
    const serving = acquireServeLock(db);
    try {
      // The note is rewritten by each holder: a server now, not the earlier migration.
      expect(tryFromOtherProcess(db)).toMatch(/^Another kaixu gateway \(pid \d+ on .+\) is serving /);
      expect(tryFromOtherProcess(db, 'migrate')).toMatch(/^A kaixu gateway \(pid \d+ on .+\) is serving .*: stop it before migrating the file/);
    } finally {
      serving.release();
    }
  });

  it("does not quote an earlier holder's note: one naming a process of this host that is gone", () => {
    const db = join(dir, 's.sqlite');
    const held = acquireServeLock(db, 'migrate');
    try {
      // As if a refused process read the note before this holder had written its own.
      const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
      writeFileSync(`${db}.serve.lock.holder`, `migrate: pid ${gone} on ${hostname()}, since 2026-01-01T00:00:00.000Z`);
      expect(tryFromOtherProcess(db)).toMatch(/^Another kaixu gateway \(another process\) is serving /);
      // A note of a live process (this one) is quoted as before.
      writeFileSync(`${db}.serve.lock.holder`, `migrate: pid ${process.pid} on ${hostname()}, since 2026-01-01T00:00:00.000Z`);
      expect(tryFromOtherProcess(db)).toMatch(/^`kaixu migrate` \(pid \d+ on .+\) is migrating /);
    } finally {
      held.release();
    }
  });

  it('locks per database file', () => {
    const one = acquireServeLock(join(dir, 'one.sqlite'));
    try {
      expect(tryFromOtherProcess(join(dir, 'two.sqlite'))).toBe('ok');
    } finally {
      one.release();
    }
  });
});
