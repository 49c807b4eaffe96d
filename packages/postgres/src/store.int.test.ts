import { execFileSync } from 'node:child_process';
import {
  createIdentity,
  deriveSecretKey,
  revealVariables,
  sealSensitive,
  type CkptEvent,
  type JobIdentity,
  type ListedCheckpoint,
} from '@ckpt/core/internal';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { StoreSchemaError, StoreUnreachableError } from './errors.js';
import { SCHEMA_VERSION } from './schema.js';
import { PostgresStore, initStore, type StoreOpenOptions } from './store.js';
import { freePort, PG_SKIP_NOTE, pgBinaries, pgSkipped } from './test-support/pg-cluster.js';
import { useCluster } from '@ckpt/testkit/vitest';

const identity = (version = 1): JobIdentity => createIdentity({ kind: 'test', id: 'nightly', version, structure: ['a', 'b', 'c'] });
const done = (unit: string): CkptEvent => ({ type: 'unit-completed', unit, outcome: 'success' });
const opts = (overrides: Partial<StoreOpenOptions> = {}): StoreOpenOptions => ({
  name: 'nightly',
  identity: identity(),
  usage: 'if-exists',
  save: true,
  ...overrides,
});

async function listAll(store: PostgresStore): Promise<ListedCheckpoint[]> {
  const all: ListedCheckpoint[] = [];
  for await (const listed of store.list()) all.push(listed);
  return all;
}

async function withStore<T>(url: string, work: (store: PostgresStore) => Promise<T>, host = 'host-a'): Promise<T> {
  const store = await PostgresStore.connect(url, { host });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

describe.skipIf(pgSkipped)(`PostgreSQL store: open, resume, usage rules, schema${pgSkipped ? ` [skipped: ${PG_SKIP_NOTE}]` : ''}`, () => {
  const pgc = useCluster();

  it('a run saves, a rerun resumes from what was committed, and success deletes the checkpoint (its owner row stays, released)', async () => {
    expect(pgBinaries, PG_SKIP_NOTE).toBeDefined();
    const url = pgc.url();
    await withStore(url, async (store) => {
      const first = await store.open(opts());
      expect(first.resumed).toBe(false);
      expect(first.owner).toMatchObject({ host: 'host-a', pid: process.pid, epoch: 1 });
      await first.log.append([{ type: 'attempt-started', attempt: 1, retentionMs: 60_000 }]);
      await first.log.append([done('a')], { durability: 'durable' });
      await first.log.append([done('b')], { durability: 'buffered' });
      await first.log.sync();
      expect(await first.close({ remove: false })).toEqual({ removed: false });

      const listed = await listAll(store);
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ name: 'nightly', reading: { epoch: 1, identity: identity() } });
      expect(listed[0]!.owner).toBeUndefined(); // released
      expect(await store.owner('nightly')).toMatchObject({ released: true, epoch: 1, host: 'host-a' });

      const second = await store.open(opts());
      expect(second.resumed).toBe(true);
      expect([...second.startState.completed.keys()]).toEqual(['a', 'b']);
      expect(second.owner?.epoch).toBe(2);
      const entries = (await store.read('nightly', { withEntries: true })).entries;
      expect(entries?.map((e) => (e.kind === 'event' ? e.event.type : e.kind))).toEqual([
        'epoch',
        'attempt-started',
        'unit-completed',
        'unit-completed',
        'epoch',
      ]);
      await second.log.append([done('c')]);
      expect(await second.close({ remove: true })).toEqual({ removed: true });
      expect(await listAll(store)).toEqual([]);
      expect(await store.owner('nightly')).toMatchObject({ released: true, epoch: 2 });
      // Epochs never repeat: the next run of the same name is epoch 3.
      const third = await store.open(opts());
      expect(third.owner?.epoch).toBe(3);
      expect(third.resumed).toBe(false);
      await third.close({ remove: true });
    });
  });

  it('usage always with no checkpoint, and another identity, are refused before anything is written', async () => {
    const url = pgc.url();
    await withStore(url, async (store) => {
      await expect(store.open(opts({ usage: 'always' }))).rejects.toMatchObject({ code: 'not-found' });
      expect(await store.owner('nightly')).toBeUndefined();
      const first = await store.open(opts());
      await first.log.append([done('a')]);
      await first.close({ remove: false });
      const before = await store.dumpRaw();
      const refused = await store.open(opts({ identity: identity(2) })).catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: 'mismatch' });
      expect(String((refused as Error).message)).toContain('version');
      expect((await store.dumpRaw()).equals(before)).toBe(true);
    });
  });

  it('usage never with save replaces the old checkpoint; save off writes nothing and leaves an existing checkpoint as it was', async () => {
    const url = pgc.url();
    await withStore(url, async (store) => {
      const first = await store.open(opts());
      await first.log.append([done('a')]);
      await first.close({ remove: false });
      const readOnly = await store.open(opts({ save: false }));
      expect(readOnly.saving).toBe(false);
      expect([...readOnly.startState.completed.keys()]).toEqual(['a']);
      await readOnly.log.append([done('b')]);
      await readOnly.close({ remove: true });
      expect([...(await store.read('nightly')).state.completed.keys()]).toEqual(['a']);
      const fresh = await store.open(opts({ usage: 'never' }));
      expect(fresh.replaced).toBe(true);
      expect(fresh.startState.completed.size).toBe(0);
      await fresh.close({ remove: false });
      expect((await store.read('nightly')).state.completed.size).toBe(0);
      const none = await store.open(opts({ name: 'other', save: false }));
      await none.log.append([done('a')]);
      await none.close({ remove: false });
      expect((await listAll(store)).map((c) => c.name)).toEqual(['nightly']);
    });
  });

  it('prune removes what its retention let expire (rows and all), keeps what a live owner holds, and a dry run removes nothing', async () => {
    const url = pgc.url();
    let clock = Date.now();
    const store = await PostgresStore.connect(url, { host: 'host-a', now: () => clock });
    try {
      const expired = await store.open(opts({ name: 'old' }));
      await expired.log.append([{ type: 'attempt-started', attempt: 1, retentionMs: 1_000 }]);
      await expired.log.append([done('a')]);
      await expired.close({ remove: false });
      const before = (await store.read('old')).lastWriteAt;
      const fresh = await store.open(opts({ name: 'fresh' }));
      await fresh.log.append([{ type: 'attempt-started', attempt: 1, retentionMs: 60 * 60_000 }]);
      await fresh.close({ remove: false });
      const held = await store.open(opts({ name: 'held' }));
      await held.log.append([{ type: 'attempt-started', attempt: 1, retentionMs: 1_000 }]);
      clock += 5_000;
      const dry = await store.prune({ dryRun: true });
      expect(dry.removed.map((r) => r.path)).toEqual(['old']);
      expect((await listAll(store)).map((c) => c.name)).toEqual(['fresh', 'held', 'old']);
      const report = await store.prune();
      expect(report.removed).toEqual([expect.objectContaining({ path: 'old', retentionMs: 1_000, lastWriteMs: before, removed: ['old'] })]);
      expect(report.skipped).toEqual([{ path: 'held', reason: expect.stringContaining(`pid ${process.pid} on host host-a`) }]);
      expect(report.kept).toBe(1);
      await expect(store.read('old')).rejects.toMatchObject({ code: 'invalid' });
      const schema = new URL(url).searchParams.get('schema')!;
      const client = new pg.Client({ connectionString: pgc.cluster().url });
      await client.connect();
      const left = await client.query(`SELECT count(*) AS n FROM ${schema}.events WHERE name = 'old'`);
      await client.end();
      expect(Number(left.rows[0].n)).toBe(0);
      // olderThanMs overrides every retention.
      expect((await store.prune({ olderThanMs: 1_000, dryRun: true })).removed.map((r) => r.path)).toEqual(['fresh']);
      await held.close({ remove: true });
    } finally {
      await store.close();
    }
  });

  it('compaction keeps resume cost flat: the rows before a snapshot are deleted, and a reopen folds to the same state', async () => {
    const url = pgc.url();
    const store = await PostgresStore.connect(url, { host: 'host-a', compaction: { minBytes: 2048 } });
    try {
      const run = await store.open(opts());
      for (let i = 0; i < 400; i++) {
        await run.log.append([{ type: 'cursor-set', unit: 'loop', cursor: { next: i } }], { durability: i % 10 === 0 ? 'durable' : 'buffered' });
      }
      await run.log.append([done('a')]);
      const expected = run.log.state;
      await run.close({ remove: false });
      const client = new pg.Client({ connectionString: pgc.cluster().url });
      await client.connect();
      const schema = new URL(url).searchParams.get('schema')!;
      const rows = await client.query<{ events: string; snapshots: string }>(
        `SELECT (SELECT count(*) FROM ${schema}.events) AS events, (SELECT count(*) FROM ${schema}.snapshots) AS snapshots`,
      );
      await client.end();
      expect(Number(rows.rows[0]!.snapshots)).toBe(1);
      expect(Number(rows.rows[0]!.events)).toBeLessThan(100);
      const again = await store.open(opts());
      expect(again.startState.cursors.get('loop')?.cursor).toEqual({ next: 399 });
      expect(again.startState.eventCount).toBe(expected.eventCount);
      expect([...again.startState.completed.keys()]).toEqual(['a']);
      await again.close({ remove: true });
    } finally {
      await store.close();
    }
  });

  it('sealed secrets: nothing reaches the store in clear, neither in the rows nor in a pg_dump', async () => {
    const url = pgc.url();
    const secret = 'hunter2-very-secret-value';
    const key = deriveSecretKey('a passphrase', identity());
    await withStore(url, async (store) => {
      const run = await store.open(opts());
      const events: CkptEvent[] = [
        { type: 'variable-set', name: 'password', value: secret, valueType: 'string', sensitive: true },
        { type: 'variable-set', name: 'token', value: `${secret}-2`, valueType: 'string', sensitive: true },
      ];
      await run.log.append([sealSensitive(events[0]!, identity(), key)]);
      await run.log.append([sealSensitive(events[1]!, identity(), undefined)]);
      await run.close({ remove: false });
      const raw = await store.dumpRaw();
      expect(raw.includes(Buffer.from('password'))).toBe(true); // the dump does hold the rows
      expect(raw.includes(Buffer.from(secret))).toBe(false);
      const dump = execFileSync(`${pgBinaries!.dir}/pg_dump`, ['--dbname', pgc.cluster().url, '--schema', new URL(url).searchParams.get('schema')!], {
        maxBuffer: 64 * 1024 * 1024,
      });
      expect(dump.includes(Buffer.from('checkpoints'))).toBe(true);
      expect(dump.includes(Buffer.from(secret))).toBe(false);
      expect(dump.includes(Buffer.from(Buffer.from(secret).toString('hex')))).toBe(false);
      const reopened = await store.open(opts());
      const revealed = revealVariables(reopened.startState, identity(), key);
      expect(revealed.get('password')).toMatchObject({ status: 'known', value: secret });
      expect(revealed.get('token')).toMatchObject({ status: 'missing' });
      await reopened.close({ remove: true });
    });
  });

  it('store init is idempotent, and a schema newer than the program is refused with nothing changed', async () => {
    const url = pgc.url();
    expect(await initStore(url)).toMatchObject({ from: 0, to: SCHEMA_VERSION });
    expect(await initStore(url)).toMatchObject({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
    const schema = new URL(url).searchParams.get('schema')!;
    const client = new pg.Client({ connectionString: pgc.cluster().url });
    await client.connect();
    await client.query(`INSERT INTO ${schema}.schema_version (version, applied_by) VALUES (${SCHEMA_VERSION + 1}, 'a later ckpt')`);
    await client.end();
    const refused = await PostgresStore.connect(url).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StoreSchemaError);
    expect(refused).toMatchObject({ code: 'invalid' });
    expect(String((refused as Error).message)).toContain(`version ${SCHEMA_VERSION + 1}, newer than this program's ${SCHEMA_VERSION}`);
    await expect(initStore(url)).rejects.toBeInstanceOf(StoreSchemaError);
  });

  it('a dozen first uses at once create the schema once and each run its own job', async () => {
    const url = pgc.url();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        withStore(url, async (store) => {
          const run = await store.open(opts({ name: `job-${i}` }));
          for (let k = 0; k < 5; k++) await run.log.append([done(`step-${k}`)]);
          await run.close({ remove: false });
          return run.owner?.epoch;
        }),
      ),
    );
    expect(results).toEqual(Array(12).fill(1));
    await withStore(url, async (store) => {
      const listed = await listAll(store);
      expect(listed.map((c) => c.name).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `job-${i}`).sort());
      for (const c of listed) expect((await store.read(c.name)).state.completed.size).toBe(5);
    });
  });

  it('an unreachable store is refused (exit 2) naming host and port, within the connect timeout', async () => {
    const port = await freePort();
    const started = Date.now();
    const refused = await PostgresStore.connect(`postgres://ckpt@127.0.0.1:${port}/postgres?connect_timeout=2`).catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(refused).toBeInstanceOf(StoreUnreachableError);
    expect(refused).toMatchObject({ code: 'invalid' });
    expect(String((refused as Error).message)).toContain(`127.0.0.1:${port}`);
    // A server that answers but has no such database is refused the same way, naming it.
    const noDb = await PostgresStore.connect(pgc.cluster().urlOf('no_such_db')).catch((error: unknown) => error);
    expect(noDb).toBeInstanceOf(StoreUnreachableError);
    expect(String((noDb as Error).message)).toContain('database "no_such_db" does not exist');
  });
});
