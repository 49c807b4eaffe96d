import { createIdentity, type CkptEvent, type JobIdentity, type LogEntry } from '@ckpt/core/internal';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { OwnershipLostError, StoreFailedError } from './errors.js';
import { PostgresStore, type StoreOpenOptions } from './store.js';
import { PG_SKIP_NOTE, pgBinaries, pgSkipped } from './test-support/pg-cluster.js';
import { useCluster } from '@ckpt/testkit/vitest';

const identity: JobIdentity = createIdentity({ kind: 'test', id: 'nightly', version: 1, structure: ['a'] });
const done = (unit: string): CkptEvent => ({ type: 'unit-completed', unit, outcome: 'success' });
const opts = (overrides: Partial<StoreOpenOptions> = {}): StoreOpenOptions => ({
  name: 'nightly',
  identity,
  usage: 'if-exists',
  save: true,
  ...overrides,
});
const unitsOf = (entries: readonly LogEntry[] | undefined) =>
  (entries ?? []).flatMap((e) => (e.kind === 'event' && e.event.type === 'unit-completed' ? [(e.event as { unit: string }).unit] : []));

async function sql(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

async function pollUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.skipIf(pgSkipped)(`PostgreSQL store: ownership, leases and fencing${pgSkipped ? ` [skipped: ${PG_SKIP_NOTE}]` : ''}`, () => {
  const pgc = useCluster();
  const stores: PostgresStore[] = [];
  const connect = async (url: string, host: string) => {
    const store = await PostgresStore.connect(url, { host });
    stores.push(store);
    return store;
  };
  const schemaOf = (url: string) => new URL(url).searchParams.get('schema')!;

  it('a live owner refuses a second open (code locked, naming its host and pid); with waitMs the second waits for it to finish', async () => {
    expect(pgBinaries, PG_SKIP_NOTE).toBeDefined();
    const url = pgc.url();
    const a = await connect(url, 'host-a');
    const b = await connect(url, 'host-b');
    const first = await a.open(opts());
    await first.log.append([done('a')]);
    const refused = await b.open(opts()).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'locked' });
    expect(String((refused as Error).message)).toContain(`pid ${process.pid} on host host-a`);
    const started = Date.now();
    setTimeout(() => void first.close({ remove: false }), 500);
    const second = await b.open(opts({ waitMs: 5_000 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(second.owner).toMatchObject({ host: 'host-b', epoch: 2 });
    expect(second.tookOver).toBeUndefined(); // released, not taken over
    expect([...second.startState.completed.keys()]).toEqual(['a']);
    await second.close({ remove: true });
  });

  it('the lease is renewed in the background: an owner that does not write keeps the job past its lease', async () => {
    const url = pgc.url();
    const a = await connect(url, 'host-a');
    const b = await connect(url, 'host-b');
    const first = await a.open(opts({ leaseMs: 300 }));
    await new Promise((resolve) => setTimeout(resolve, 900));
    await expect(b.open(opts({ leaseMs: 300 }))).rejects.toMatchObject({ code: 'locked' });
    await first.log.append([done('a')]);
    await first.close({ remove: true });
  });

  it('lease expiry: an unresponsive owner is taken over with the next epoch; its next append is refused, names who took it, and stores nothing', async () => {
    const url = pgc.url();
    const a = await connect(url, 'host-a');
    const b = await connect(url, 'host-b');
    // renewEveryMs 0: the owner stops renewing, as a paused (SIGSTOP) or partitioned one does.
    const first = await a.open(opts({ leaseMs: 400, renewEveryMs: 0 }));
    await first.log.append([done('before')]);
    const second = await b.open(opts({ leaseMs: 5_000, waitMs: 5_000 }));
    expect(second.owner).toMatchObject({ host: 'host-b', epoch: 2 });
    expect(second.tookOver).toMatchObject({ from: { host: 'host-a', pid: process.pid, epoch: 1 }, reason: 'its lease ran out' });
    expect([...second.startState.completed.keys()]).toEqual(['before']);

    const lost = await first.log
      .append([done('after')], { durability: 'buffered' })
      .then(() => first.log.sync())
      .catch((error: unknown) => error);
    expect(lost).toBeInstanceOf(OwnershipLostError);
    expect(lost).toMatchObject({ code: 'compromised' });
    expect(String((lost as Error).message)).toContain(`lost checkpoint "nightly" to pid ${process.pid} on host host-b (epoch 2)`);
    // Failed for good: every later call rejects, and closing does not release the new owner's row.
    await expect(first.log.append([done('later')])).rejects.toBe(lost);
    await first.close({ remove: true });
    expect(await a.owner('nightly')).toMatchObject({ host: 'host-b', epoch: 2, released: false });
    expect(unitsOf((await b.read('nightly', { withEntries: true })).entries)).toEqual(['before']);
    await second.log.append([done('b')]);
    await second.close({ remove: false });
    expect(unitsOf((await b.read('nightly', { withEntries: true })).entries)).toEqual(['before', 'b']);
  });

  it('fencing under load: when the owner is taken over while it appends, none of its writes lands after the new epoch, and every acknowledged one is before it', async () => {
    const url = pgc.url();
    const a = await connect(url, 'host-a');
    const b = await connect(url, 'host-b');
    const first = await a.open(opts({ leaseMs: 60_000 }));
    const acknowledged: string[] = [];
    let stop = false;
    const appenders = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const unit = `w${w}-${i}`;
        try {
          await first.log.append([done(unit)], { durability: i % 3 === 0 ? 'buffered' : 'durable' });
          if (i % 3 !== 0) acknowledged.push(unit);
        } catch {
          return;
        }
      }
    });
    await pollUntil('the owner acknowledged 50 appends', () => acknowledged.length >= 50);
    // The takeover, as another owner's acquire writes it (next epoch, its host), in one
    // transaction that also notes the last record committed before it. The old owner keeps
    // appending throughout.
    const admin = new pg.Client({ connectionString: pgc.cluster().url });
    await admin.connect();
    const S = schemaOf(url);
    await admin.query('BEGIN');
    await admin.query(`SELECT 1 FROM ${S}.owners WHERE name = 'nightly' FOR UPDATE`);
    const lastBefore = Number((await admin.query(`SELECT max(seq) AS m FROM ${S}.events WHERE name = 'nightly'`)).rows[0].m);
    await admin.query(
      `UPDATE ${S}.owners SET epoch = epoch + 1, host = 'host-b', pid = 4242, backend_pid = NULL, lease_expires_at = now() - interval '1 second' WHERE name = 'nightly'`,
    );
    await admin.query('COMMIT');
    await admin.end();
    await pollUntil('the first owner failed', () => first.log.failed !== undefined);
    stop = true;
    await Promise.all(appenders);
    expect(first.log.failed).toBeInstanceOf(OwnershipLostError);
    expect(String(first.log.failed!.message)).toContain('to pid 4242 on host host-b (epoch 2)');
    const after = await sql(pgc.cluster().url, `SELECT count(*) AS n FROM ${S}.events WHERE name = 'nightly' AND seq > $1`, [lastBefore]);
    expect(Number(after.rows[0].n)).toBe(0);
    // Everything it acknowledged was committed before the takeover; a later owner starts from all of it.
    const second = await b.open(opts({ leaseMs: 60_000 }));
    expect(second.owner?.epoch).toBe(3);
    for (const unit of acknowledged) expect(second.startState.completed.has(unit), unit).toBe(true);
    await first.close({ remove: false });
    await second.close({ remove: true });
  });

  it("a dead session is taken over at once: terminating the owner's backend lets another open without waiting for the lease", async () => {
    const url = pgc.url();
    const a = await connect(url, 'host-a');
    const b = await connect(url, 'host-b');
    const first = await a.open(opts({ leaseMs: 60_000 }));
    await first.log.append([done('a')]);
    await sql(pgc.cluster().url, `SELECT pg_terminate_backend(backend_pid) FROM ${schemaOf(url)}.owners WHERE name = 'nightly'`);
    const started = Date.now();
    const second = await b.open(opts({ leaseMs: 60_000 }));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(second.tookOver).toMatchObject({ from: { host: 'host-a', epoch: 1 }, reason: 'its database session is gone' });
    const failed = await first.log.append([done('x')]).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(StoreFailedError);
    expect(failed).toMatchObject({ code: 'io' });
    await first.close({ remove: false });
    expect([...second.startState.completed.keys()]).toEqual(['a']);
    await second.close({ remove: true });
  });

  it('a connection killed mid-append fails the log cleanly (every later call rejects); a rerun finds every acknowledged event', async () => {
    const url = pgc.url();
    const a = await connect(url, 'host-a');
    const first = await a.open(opts({ leaseMs: 60_000 }));
    const acknowledged: string[] = [];
    const appenders = Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; ; i++) {
        try {
          await first.log.append([done(`w${w}-${i}`)], { durability: 'durable' });
          acknowledged.push(`w${w}-${i}`);
        } catch (error) {
          return error;
        }
      }
    });
    await pollUntil('100 appends were acknowledged', () => acknowledged.length >= 100);
    await sql(pgc.cluster().url, `SELECT pg_terminate_backend(backend_pid) FROM ${schemaOf(url)}.owners WHERE name = 'nightly'`);
    const errors = await Promise.all(appenders);
    for (const error of errors) expect(error).toBeInstanceOf(StoreFailedError);
    expect(first.log.failed).toBe(errors[0]);
    await expect(first.log.sync()).rejects.toBe(errors[0]);
    await first.close({ remove: true });
    const b = await connect(url, 'host-b');
    const rerun = await b.open(opts());
    for (const unit of acknowledged) expect(rerun.startState.completed.has(unit), unit).toBe(true);
    await rerun.close({ remove: true });
  });

  it('the server stopped with pg_ctl -m immediate mid-run: the run fails cleanly; after the restart a rerun finds every acknowledged event', async () => {
    const url = pgc.url();
    const a = await connect(url, 'host-a');
    const first = await a.open(opts({ leaseMs: 60_000 }));
    const acknowledged: string[] = [];
    const appenders = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; ; i++) {
        try {
          await first.log.append([done(`w${w}-${i}`)], { durability: 'durable' });
          acknowledged.push(`w${w}-${i}`);
        } catch (error) {
          return error;
        }
      }
    });
    await pollUntil('50 appends were acknowledged', () => acknowledged.length >= 50);
    await pgc.cluster().stop('immediate');
    try {
      const errors = await Promise.all(appenders);
      for (const error of errors) expect(error).toBeInstanceOf(StoreFailedError);
      await first.close({ remove: true });
      await expect(PostgresStore.connect(url.replace(/\?/, '?connect_timeout=2&'))).rejects.toMatchObject({ code: 'invalid' });
    } finally {
      await pgc.cluster().restart();
    }
    const b = await connect(url, 'host-b');
    const rerun = await b.open(opts());
    for (const unit of acknowledged) expect(rerun.startState.completed.has(unit), unit).toBe(true);
    expect(rerun.tookOver?.reason).toBe('its database session is gone');
    await rerun.close({ remove: true });
    for (const store of stores.splice(0)) await store.close();
  });
});
