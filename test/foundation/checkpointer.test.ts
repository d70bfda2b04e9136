import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/db.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fileDb(checkpointMs: number): { storage: Storage; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kaixu-ckpt-'));
  dirs.push(dir);
  const path = join(dir, 'kaixu.db');
  const storage = openStorage({ kind: 'sqlite', path }, { checkpointMs });
  storage.sqlite!.exec('create table t (id integer primary key, v text not null)');
  return { storage, path };
}

/** 400 commits of one 2 kB row each: ≈ 400+ WAL pages, below the 1000-page auto-checkpoint. */
function writeRows(s: Storage) {
  const ins = s.sqlite!.prepare('insert into t (v) values (?)');
  for (let i = 0; i < 400; i++) ins.run('x'.repeat(2000));
}

const waitFor = async (ok: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return ok();
};

describe('background WAL checkpoints (SQLite file)', () => {
  it('the worker copies committed pages into the database file while the request connection never checkpoints', async () => {
    const { storage, path } = fileDb(20);
    try {
      expect(storage.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(20_000);
      const before = statSync(path).size;
      writeRows(storage);
      // In WAL mode only a checkpoint grows the main file; the request connection's own threshold
      // (20 000 pages) is far away, so the growth is the worker's.
      expect(await waitFor(() => statSync(path).size > before + 400 * 2000)).toBe(true);
      expect(storage.sqlite!.prepare('select count(*) as n from t').get()).toEqual({ n: 400 });
    } finally {
      await storage.close();
    }
  });

  it('without it (0), SQLite checkpoints inside commits, and only past its 1000-page threshold', async () => {
    const { storage, path } = fileDb(0);
    try {
      expect(storage.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
      const before = statSync(path).size;
      writeRows(storage);
      await new Promise((r) => setTimeout(r, 100));
      expect(statSync(path).size).toBe(before);
    } finally {
      await storage.close();
    }
  });

  it('close() ends the worker and the connection (nothing left in the WAL); the file reopens with every row', async () => {
    const { storage, path } = fileDb(60_000); // never fires on its own within the test
    writeRows(storage);
    await storage.close();
    expect(statSync(path).size).toBeGreaterThan(400 * 2000);
    expect(() => statSync(`${path}-wal`)).toThrow(); // the last connection to close removes the WAL
    const again = openStorage({ kind: 'sqlite', path }, { checkpointMs: 20 });
    try {
      expect(again.sqlite!.prepare('select count(*) as n from t').get()).toEqual({ n: 400 });
    } finally {
      await again.close();
    }
  });
});
