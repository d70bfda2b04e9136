import { existsSync, mkdtempSync, openSync, readSync, closeSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createContainer } from '../../src/app/container.ts';
import { testConfig } from '../../src/config/index.ts';
import { buildApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { openStorage, type Storage } from '../../src/storage/db.ts';
import type { WalCheckpointer } from '../../src/storage/wal-checkpointer.ts';
import { until } from '../observability/util.ts';

const FAST = { tickMs: 20, idleMs: 50, batchFrames: 1000, quietMs: 100, fallbackFrames: 10_000 };
const FRAME = 24 + 4096;

const dirs: string[] = [];
function tempDb(): string {
  const d = mkdtempSync(join(tmpdir(), 'kaixu-wal-'));
  dirs.push(d);
  return join(d, 'kaixu.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The WAL header's checkpoint sequence: SQLite bumps it each time the WAL starts over at frame 1. */
function walSequence(path: string): number {
  const fd = openSync(`${path}-wal`, 'r');
  try {
    const b = Buffer.alloc(16);
    readSync(fd, b, 0, 16, 0);
    return b.readUInt32BE(12);
  } finally {
    closeSync(fd);
  }
}

/** `n` commits of one page-sized row each: at least one WAL frame per commit. */
function write(storage: Storage, n: number): void {
  const h = storage.sqlite!;
  h.exec('create table if not exists filler (id integer primary key, body blob)');
  const ins = h.prepare('insert into filler (body) values (?)');
  for (let i = 0; i < n; i++) ins.run(Buffer.alloc(3000, i % 251));
}

describe('SQLite WAL checkpoints on a worker thread', () => {
  it('the worker copies the WAL into the database, so it starts over without the server connection checkpointing', async () => {
    const path = tempDb();
    const storage = openStorage({ kind: 'sqlite', path }, { walCheckpoint: FAST });
    const cp = storage.walCheckpointer!;
    try {
      // The server's own automatic checkpoint is only the backstop now.
      expect(storage.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000);
      write(storage, 1);
      let seq = walSequence(path);
      let firstRound = 0;
      for (let round = 1; round <= 5; round++) {
        const before = cp.stats().frames;
        write(storage, 300);
        await until(() => cp.stats().frames >= before + 300, 10_000);
        write(storage, 1);
        // Every frame was copied, so this commit wrote frame 1 of a new WAL generation.
        const next = walSequence(path);
        expect(next).toBeGreaterThan(seq);
        seq = next;
        if (round === 1) firstRound = statSync(`${path}-wal`).size;
      }
      // Five rounds, together under the backstop's 10 000 frames, yet the file never grew past about one.
      expect(firstRound).toBeGreaterThan(300 * FRAME);
      expect(statSync(`${path}-wal`).size).toBeLessThan(firstRound * 1.2);
      const s = cp.stats();
      expect(s).toMatchObject({ running: true });
      expect(s.runs).toBeGreaterThanOrEqual(5);
      expect(s.frames).toBeGreaterThanOrEqual(1500);
      // Another connection reads every row from the file.
      const reader = new SQLite(path, { readonly: true });
      expect(reader.prepare('select count(*) as n from filler').get()).toEqual({ n: 1506 });
      reader.close();
    } finally {
      await storage.close();
    }
  });

  it('checkpoints when a batch of frames waits, and fewer only once the WAL is quiet', async () => {
    const path = tempDb();
    const storage = openStorage({ kind: 'sqlite', path }, { walCheckpoint: { tickMs: 10, idleMs: 20, batchFrames: 500, quietMs: 400, fallbackFrames: 10_000 } });
    const cp = storage.walCheckpointer!;
    try {
      // A few frames, then a short pause: neither a batch nor quiet long enough.
      write(storage, 20);
      const wroteAt = Date.now();
      await new Promise((r) => setTimeout(r, 150));
      expect(cp.stats().runs).toBe(0);
      await until(() => cp.stats().runs === 1, 10_000);
      expect(Date.now() - wroteAt).toBeGreaterThanOrEqual(350);
      // Now writes every 10 ms or so, never quiet for 400 ms: only a full batch can set off a checkpoint.
      const end = Date.now() + 5000;
      while (Date.now() < end && cp.stats().runs < 2) {
        write(storage, 20);
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(cp.stats().runs).toBe(2);
      expect(cp.stats().frames).toBeGreaterThanOrEqual(500);
    } finally {
      await storage.close();
    }
  });

  it('close() ends the worker before the server connection, which then removes the WAL', async () => {
    const path = tempDb();
    const storage = openStorage({ kind: 'sqlite', path }, { walCheckpoint: FAST });
    write(storage, 50);
    expect(existsSync(`${path}-wal`)).toBe(true);
    await storage.close();
    expect(storage.walCheckpointer!.stats().running).toBe(false);
    expect(existsSync(`${path}-wal`)).toBe(false);
    const again = new SQLite(path, { readonly: true });
    expect(again.prepare('select count(*) as n from filler').get()).toEqual({ n: 50 });
    again.close();
  });

  it('if the worker dies, the server connection takes checkpoints back at SQLite’s default', async () => {
    const path = tempDb();
    const failures: Error[] = [];
    const storage = openStorage({ kind: 'sqlite', path }, { walCheckpoint: { ...FAST, onFailure: (e) => failures.push(e) } });
    try {
      const cp = storage.walCheckpointer!;
      await (cp as unknown as { worker: Worker }).worker.terminate();
      await until(() => !cp.stats().running, 10_000);
      expect(storage.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
      expect(failures).toHaveLength(1);
      // Writing goes on; SQLite now checkpoints in the committing call.
      write(storage, 1200);
      expect(statSync(`${path}-wal`).size).toBeLessThan(1100 * FRAME);
    } finally {
      await storage.close();
    }
  });

  it('is off for in-memory databases and when not asked for', async () => {
    const mem = openStorage({ kind: 'sqlite', path: ':memory:' }, { walCheckpoint: FAST });
    const plain = openStorage({ kind: 'sqlite', path: tempDb() });
    expect(mem.walCheckpointer).toBeUndefined();
    expect(plain.walCheckpointer).toBeUndefined();
    expect(plain.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await mem.close();
    await plain.close();
  });
});

describe('the gateway on a SQLite file', () => {
  const silent = createLogger({ level: 'silent' });

  it('runs the checkpoint worker by default and reports it in /metrics', async () => {
    const path = tempDb();
    const c = await createContainer(testConfig({ DATABASE_URL: `sqlite:${path}` }), { logger: silent });
    try {
      const cp: WalCheckpointer | undefined = c.storage.walCheckpointer;
      expect(cp?.stats().running).toBe(true);
      write(c.storage, 200);
      await until(() => cp!.stats().frames >= 200, 10_000);
      const text = await (await buildApp(c).request('/metrics')).text();
      expect(text).toMatch(/^kaixu_sqlite_wal_checkpointer_up 1$/m);
      const frames = Number(/^kaixu_sqlite_wal_checkpoint_frames_total (\d+)$/m.exec(text)?.[1]);
      expect(frames).toBeGreaterThanOrEqual(200);
      expect(text).toMatch(/^kaixu_sqlite_wal_checkpoints_total [1-9]\d*$/m);
    } finally {
      await c.close();
    }
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it('SQLITE_WAL_CHECKPOINT=inline leaves checkpoints to the committing call', async () => {
    const c = await createContainer(testConfig({ DATABASE_URL: `sqlite:${tempDb()}`, SQLITE_WAL_CHECKPOINT: 'inline' }), { logger: silent });
    try {
      expect(c.storage.walCheckpointer).toBeUndefined();
      expect(c.storage.sqlite!.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
      expect(await (await buildApp(c).request('/metrics')).text()).not.toContain('kaixu_sqlite_wal');
    } finally {
      await c.close();
    }
  });
});
