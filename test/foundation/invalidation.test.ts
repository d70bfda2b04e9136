import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidationBus } from '../../src/cluster/invalidation.ts';
import { systemClock } from '../../src/lib/clock.ts';
import { openStorage, type Storage } from '../../src/storage/db.ts';
import { DIALECTS, makeTestDb, type TestDb } from '../helpers/db.ts';

describe.each(DIALECTS)('invalidation bus on %s', (dialect) => {
  let db: TestDb;
  let other: Storage;
  const buses: InvalidationBus[] = [];
  beforeAll(async () => {
    db = await makeTestDb(dialect);
    // A second connection to the same data: another node. Without its pool the bus cannot
    // LISTEN, so what it sees comes from polling alone.
    other = dialect === 'postgres' ? openStorage({ kind: 'postgres', url: db.url }) : db.storage;
  });
  afterAll(async () => {
    for (const b of buses) await b.stop();
    if (other !== db.storage) await other.close();
    await db.close();
  });
  const bus = async (storage: Storage) => {
    const b = new InvalidationBus(storage, systemClock, 60_000);
    await b.start();
    buses.push(b);
    const seen: string[] = [];
    b.on((kind, target) => seen.push(`${kind}:${target}`));
    return { b, seen };
  };

  it('delivers a committed change to local listeners at once and to other nodes by polling', async () => {
    const writer = await bus(db.storage);
    const node2 = await bus({ ...other, pool: undefined });
    await db.storage.db.transaction().execute((trx) => writer.b.record(trx, 'key', 'key_1'));
    await writer.b.emit('key', 'key_1');
    expect(writer.seen).toEqual(['key:key_1']);
    expect(node2.seen).toEqual([]);
    await node2.b.poll();
    expect(node2.seen).toEqual(['key:key_1']);
    await node2.b.poll();
    expect(node2.seen).toEqual(['key:key_1']);
  });

  it('a throwing listener neither fails the emit nor starves the other listeners', async () => {
    const { b, seen } = await bus(db.storage);
    b.on(() => {
      throw new Error('listener bug');
    });
    const after: string[] = [];
    b.on((k, t) => after.push(`${k}:${t}`));
    await expect(b.emit('customer', 'cus_1')).resolves.toBeUndefined();
    expect(seen).toEqual(['customer:cus_1']);
    expect(after).toEqual(['customer:cus_1']);
  });

  it.runIf(dialect === 'postgres')('does not lose a change whose lower id commits after a higher one', async () => {
    const node2 = await bus({ ...other, pool: undefined });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let recorded!: () => void;
    const didRecord = new Promise<void>((r) => (recorded = r));
    const slow = db.storage.db.transaction().execute(async (trx) => {
      await node2.b.record(trx, 'key', 'slow');
      recorded();
      await gate;
    });
    await didRecord;
    await db.storage.db.transaction().execute((trx) => node2.b.record(trx, 'key', 'fast'));
    await node2.b.poll();
    expect(node2.seen).toEqual(['key:fast']);
    release();
    await slow;
    await node2.b.poll();
    expect(node2.seen).toEqual(['key:fast', 'key:slow']);
    await node2.b.poll();
    expect(node2.seen).toEqual(['key:fast', 'key:slow']);
  });
});
