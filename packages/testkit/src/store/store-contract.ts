// One file over ~400 lines on purpose: the suite reads as the list of guarantees store/port.ts
// states, one test per guarantee, as the storage contract suite does.
/**
 * The store contract: what every {@link CheckpointStore} adapter guarantees (core's
 * `store/port.ts` says it in words; this suite checks it). Run it with
 * {@link describeStoreContract} and a {@link StoreHarness} of the adapter: FileStore runs it
 * in this package (file-store-contract.crash.test.ts), `@ckpt/postgres` against a real server.
 *
 * Imported from `@ckpt/testkit/store-contract` (it needs vitest); the harness interface is
 * plain types, so an adapter's harness can live anywhere.
 */
import {
  Engine,
  Fold,
  createIdentity,
  isCkptError,
  type CheckpointStore,
  type CkptEvent,
  type JobIdentity,
  type LogEntry,
  type OpenCheckpointOptions,
  type Runner,
} from '@ckpt/core';
import fc from 'fast-check';
import { Observable } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { propertySettings } from '../crash/property-settings.js';
import type { StoreHarness } from './store-harness.js';

export type { StoreHarness } from './store-harness.js';

/** Options of {@link describeStoreContract}. */
export interface StoreContractOptions {
  /** Runs of the journal property (default 25; `CKPT_RUNS`/`CKPT_SOAK` change it). */
  readonly journalRuns?: number;
  /** Timeout of each test, ms (default 60 s). */
  readonly timeoutMs?: number;
}

const identityOf = (id: string, version: number | string = 1, steps: readonly string[] = ['a', 'b', 'c']): JobIdentity =>
  createIdentity({ kind: 'contract', id, version, structure: { steps } });

/** A job of the contract's runner: steps in order; `fail` fails that step; `secret` records a sensitive variable first. */
interface ContractJob {
  readonly id: string;
  readonly version?: number;
  readonly steps: readonly string[];
  readonly fail?: string;
  readonly secret?: string;
  /** Every step that ran, in order, across attempts (the effects). */
  readonly ran: string[];
}

/** A minimal runner: skips what the checkpoint has completed, runs the rest, records each step. */
const contractRunner: Runner<ContractJob> = {
  kind: 'contract',
  identify: (job) => identityOf(job.id, job.version ?? 1, job.steps),
  run: (job, context) =>
    new Observable<CkptEvent | readonly CkptEvent[]>((subscriber) => {
      if (job.secret !== undefined && !context.state.variables.has('password')) {
        subscriber.next({ type: 'variable-set', name: 'password', value: job.secret, valueType: 'string', sensitive: true });
      }
      for (const step of job.steps) {
        if (context.startState.completed.has(step)) continue;
        subscriber.next({ type: 'unit-started', unit: step });
        job.ran.push(step);
        if (step === job.fail) {
          subscriber.next({ type: 'unit-failed', unit: step, error: { message: `step ${step} failed` } });
          subscriber.error(new Error(`step ${step} failed`));
          return;
        }
        subscriber.next({ type: 'unit-completed', unit: step, outcome: 'success' });
      }
      subscriber.complete();
    }),
};

/** The error a promise rejects with (undefined when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

/** What a reading of `name` shows, for "nothing changed" comparisons; undefined when there is none. */
async function fingerprint(store: CheckpointStore, name: string): Promise<string | undefined> {
  try {
    const reading = await store.read(name, { withEntries: true });
    return JSON.stringify(
      {
        identity: reading.identity,
        lastWriteAt: reading.lastWriteAt,
        epoch: reading.epoch,
        entries: (reading.entries ?? []).map((entry) => (entry.kind === 'event' ? entry.event : { kind: entry.kind, seq: entry.seq })),
      },
      (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value),
    );
  } catch (error) {
    if (isCkptError(error, 'invalid')) return undefined;
    throw error;
  }
}

function eventsOf(entries: readonly LogEntry[] | undefined): CkptEvent[] {
  return (entries ?? []).flatMap((entry) => (entry.kind === 'event' ? [entry.event] : []));
}

const contains = (haystack: Uint8Array | string, needle: string): boolean =>
  typeof haystack === 'string' ? haystack.includes(needle) : Buffer.from(haystack).includes(Buffer.from(needle, 'utf8'));

/**
 * Registers the store contract's tests for an adapter. `makeHarness` is called before each test
 * for an empty store; its `cleanup` after.
 */
export function describeStoreContract(label: string, makeHarness: () => Promise<StoreHarness>, options: StoreContractOptions = {}): void {
  const timeout = options.timeoutMs ?? 60_000;
  describe(`store contract: ${label}`, () => {
    let harness: StoreHarness;
    const connected: CheckpointStore[] = [];
    const connect = async () => {
      const store = await harness.connect();
      connected.push(store);
      return store;
    };
    beforeEach(async () => {
      harness = await makeHarness();
    });
    afterEach(async () => {
      for (const store of connected.splice(0)) await store.close().catch(() => undefined);
      await harness.cleanup();
    });

    const base = (name: string, identity: JobIdentity, usage: OpenCheckpointOptions['usage'], save: boolean): OpenCheckpointOptions => ({
      name,
      identity,
      usage,
      save,
      owner: { host: 'contract-host', pid: process.pid },
    });

    /** A checkpoint of `identity` holding a completed unit `a`, kept (as after a failure). */
    async function existing(store: CheckpointStore, name: string, identity: JobIdentity): Promise<void> {
      const opened = await store.open(base(name, identity, 'if-exists', true));
      await opened.log.append([{ type: 'unit-completed', unit: 'a', outcome: 'success' }], { durability: 'durable' });
      await opened.close({ remove: false });
    }

    describe('identity', () => {
      it('a checkpoint of another kind, id, version or structure is refused (code mismatch) before anything is written, with any usage', {
        timeout,
      }, async () => {
        const store = await connect();
        const name = harness.name('identity');
        const identity = identityOf('job');
        await existing(store, name, identity);
        const before = await fingerprint(store, name);
        const others = [
          identityOf('other-job'),
          identityOf('job', 2),
          identityOf('job', 1, ['a', 'b', 'c', 'd']),
          { ...identity, kind: 'another-runner' },
        ];
        for (const other of others) {
          for (const usage of ['if-exists', 'always', 'never'] as const) {
            for (const save of [true, false]) {
              if (usage === 'never' && !save) continue; // reads nothing: no check is due
              const error = await rejection(store.open(base(name, other, usage, save)));
              expect(isCkptError(error, 'mismatch'), `${usage}/${save ? 'save' : 'no save'}: ${String(error)}`).toBe(true);
              expect(error!.message).toContain(name);
            }
          }
        }
        expect(await fingerprint(store, name)).toBe(before);
        // The right identity still opens it, and resumes.
        const opened = await store.open(base(name, identity, 'always', true));
        expect(opened.resumed).toBe(true);
        expect(opened.startState.completed.has('a')).toBe(true);
        await opened.close({ remove: false });
      });

      it('a refusal by checkState leaves the checkpoint as it was', { timeout }, async () => {
        const store = await connect();
        const name = harness.name('check-state');
        await existing(store, name, identityOf('job'));
        const before = await fingerprint(store, name);
        const error = await rejection(
          store.open({
            ...base(name, identityOf('job'), 'if-exists', true),
            checkState: () => {
              throw new Error('refused by the runner');
            },
          }),
        );
        expect(error?.message).toBe('refused by the runner');
        expect(await fingerprint(store, name)).toBe(before);
        // And it can be opened afterwards: the refusal released ownership.
        await (await store.open(base(name, identityOf('job'), 'if-exists', true))).close({ remove: false });
      });
    });

    describe('usage × save', () => {
      it('always: a missing checkpoint is refused (code not-found), with save on or off, and none is created', { timeout }, async () => {
        const store = await connect();
        const name = harness.name('always-missing');
        for (const save of [true, false]) {
          const error = await rejection(store.open(base(name, identityOf('job'), 'always', save)));
          expect(isCkptError(error, 'not-found'), String(error)).toBe(true);
        }
        expect(await fingerprint(store, name)).toBeUndefined();
      });

      it('if-exists and always resume an existing checkpoint; with save off nothing more is written', { timeout }, async () => {
        const store = await connect();
        for (const usage of ['if-exists', 'always'] as const) {
          for (const save of [true, false]) {
            const name = harness.name(`resume-${usage}-${save}`);
            await existing(store, name, identityOf('job'));
            const before = await fingerprint(store, name);
            const opened = await store.open(base(name, identityOf('job'), usage, save));
            expect(opened.resumed, `${usage}/${save}`).toBe(true);
            expect(opened.saving).toBe(save);
            expect(opened.startState.completed.has('a')).toBe(true);
            await opened.log.append([{ type: 'unit-completed', unit: 'b', outcome: 'success' }], { durability: 'durable' });
            expect(opened.log.state.completed.has('b')).toBe(true);
            await opened.close({ remove: false });
            const after = await store.read(name);
            expect(after.state.completed.has('b'), `${usage}/${save}`).toBe(save);
            if (!save) expect(await fingerprint(store, name)).toBe(before);
          }
        }
      });

      it('if-exists with no checkpoint starts fresh: save on creates it, save off creates nothing', { timeout }, async () => {
        const store = await connect();
        for (const save of [true, false]) {
          const name = harness.name(`fresh-${save}`);
          const opened = await store.open(base(name, identityOf('job'), 'if-exists', save));
          expect(opened.resumed).toBe(false);
          expect(opened.startState.completed.size).toBe(0);
          await opened.log.append([{ type: 'unit-completed', unit: 'a', outcome: 'success' }], { durability: 'durable' });
          await opened.close({ remove: false });
          if (save) expect((await store.read(name)).state.completed.has('a')).toBe(true);
          else expect(await fingerprint(store, name)).toBeUndefined();
        }
      });

      it('never: save on replaces an existing checkpoint of the same job; save off neither reads nor writes it', { timeout }, async () => {
        const store = await connect();
        const name = harness.name('never');
        await existing(store, name, identityOf('job'));
        const before = await fingerprint(store, name);
        const readOnly = await store.open(base(name, identityOf('job'), 'never', false));
        expect(readOnly.resumed).toBe(false);
        expect(readOnly.startState.completed.size).toBe(0);
        await readOnly.log.append([{ type: 'unit-completed', unit: 'z', outcome: 'success' }]);
        await readOnly.close({ remove: true });
        expect(await fingerprint(store, name)).toBe(before);

        const replacing = await store.open(base(name, identityOf('job'), 'never', true));
        expect(replacing.resumed).toBe(false);
        expect(replacing.replaced).toBe(true);
        expect(replacing.startState.completed.size).toBe(0);
        await replacing.log.append([{ type: 'unit-completed', unit: 'b', outcome: 'success' }], { durability: 'durable' });
        await replacing.close({ remove: false });
        const after = await store.read(name);
        expect([...after.state.completed.keys()]).toEqual(['b']);
      });
    });

    describe('success and failure', () => {
      it('a run that succeeds deletes its checkpoint; one that fails keeps it, and the rerun resumes after the completed steps', {
        timeout,
      }, async () => {
        const store = await connect();
        const engine = new Engine({ store });
        const name = harness.name('engine');
        const ran: string[] = [];
        const failing = await engine.run(
          contractRunner,
          { id: 'job', steps: ['a', 'b', 'c'], fail: 'b', ran },
          { checkpoint: { path: name, usage: 'if-exists', save: true } },
        );
        expect(failing.outcome).toBe('failure');
        expect(failing.checkpointRemoved).toBe(false);
        const kept = await store.read(name);
        expect(kept.state.completed.has('a')).toBe(true);
        expect(kept.state.attempts.map((a) => a.outcome)).toEqual(['failure']);

        const rerun = await engine.run(
          contractRunner,
          { id: 'job', steps: ['a', 'b', 'c'], ran },
          { checkpoint: { path: name, usage: 'if-exists', save: true } },
        );
        expect(rerun.outcome).toBe('success');
        expect(rerun.resumed).toBe(true);
        expect(rerun.attempt).toBe(2);
        expect(rerun.checkpointRemoved).toBe(true);
        expect(ran).toEqual(['a', 'b', 'b', 'c']);
        expect(await fingerprint(store, name)).toBeUndefined();
        const names: string[] = [];
        for await (const row of store.list(harness.under !== undefined ? { under: harness.under } : {})) names.push(row.name);
        expect(names).not.toContain(name);
      });

      it('keepOnSuccess keeps the checkpoint with the success recorded', { timeout }, async () => {
        const store = await connect();
        const name = harness.name('keep');
        const result = await new Engine({ store }).run(
          contractRunner,
          { id: 'job', steps: ['a'], ran: [] },
          { checkpoint: { path: name, usage: 'if-exists', save: true, keepOnSuccess: true } },
        );
        expect(result.checkpointRemoved).toBe(false);
        expect((await store.read(name)).state.attempts.at(-1)?.outcome).toBe('success');
      });
    });

    describe('sealed secrets', () => {
      it('a sensitive value is never stored in clear: sealed with a key (and given back on resume), not persisted without one', {
        timeout,
      }, async () => {
        const store = await connect();
        const engine = new Engine({ store });
        const secret = 'Sup3r-S3cret-Value-7f3a';
        const key = 'contract passphrase 9c1d';
        const sealed = harness.name('sealed');
        const redacted = harness.name('redacted');
        await engine.run(
          contractRunner,
          { id: 'job', steps: ['a', 'b'], fail: 'b', secret, ran: [] },
          { checkpoint: { path: sealed, usage: 'if-exists', save: true }, secretKey: key },
        );
        await engine.run(
          contractRunner,
          { id: 'job', steps: ['a', 'b'], fail: 'b', secret, ran: [] },
          { checkpoint: { path: redacted, usage: 'if-exists', save: true } },
        );
        const dump = await harness.dump();
        // The dump holds the records (the variable's name is there), just not the value.
        expect(contains(dump, 'password'), 'the dump shows the stored records').toBe(true);
        expect(contains(dump, secret), 'the secret in clear').toBe(false);
        expect(contains(dump, key), 'the key in clear').toBe(false);
        expect((await store.read(sealed)).state.variables.get('password')?.sealed).toBeDefined();
        expect((await store.read(redacted)).state.variables.get('password')?.redacted).toBe(true);
        // The sealed value comes back to the rerun that has the key.
        let revealed: unknown;
        const probe: Runner<ContractJob> = {
          ...contractRunner,
          run: (job, context) => {
            const variable = context.variables.get('password');
            revealed = variable !== undefined && 'value' in variable ? variable.value : variable;
            return contractRunner.run(job, context);
          },
        };
        const rerun = await engine.run(
          probe,
          { id: 'job', steps: ['a', 'b'], ran: [] },
          { checkpoint: { path: sealed, usage: 'if-exists', save: true }, secretKey: key },
        );
        expect(rerun.outcome).toBe('success');
        expect(revealed).toBe(secret);
      });
    });

    describe('retention', () => {
      it('prune removes what expired (its recorded retention, or --older-than) and keeps the rest; a dry run removes nothing', {
        timeout,
      }, async () => {
        const store = await connect();
        const engine = new Engine({ store });
        const day = 24 * 3600 * 1000;
        const fresh = harness.name('fresh');
        const old = harness.name('old');
        const short = harness.name('short-retention');
        for (const name of [fresh, old])
          await engine.run(
            contractRunner,
            { id: 'job', steps: ['a', 'b'], fail: 'b', ran: [] },
            { checkpoint: { path: name, usage: 'if-exists', save: true } },
          );
        await engine.run(
          contractRunner,
          { id: 'job', steps: ['a', 'b'], fail: 'b', ran: [] },
          { checkpoint: { path: short, usage: 'if-exists', save: true, retentionMs: day } },
        );
        await harness.setLastWrite(old, Date.now() - 31 * day);
        await harness.setLastWrite(short, Date.now() - 2 * day);
        await harness.setLastWrite(fresh, Date.now() - 2 * day);
        const under = harness.under !== undefined ? { under: harness.under } : {};

        const dry = await store.prune({ ...under, dryRun: true });
        expect(dry.removed.map((r) => r.path).sort()).toEqual([old, short].sort());
        expect(await fingerprint(store, old)).toBeDefined();

        const report = await store.prune(under);
        expect(report.removed.map((r) => r.path).sort()).toEqual([old, short].sort());
        expect(report.kept).toBe(1);
        expect(await fingerprint(store, old)).toBeUndefined();
        expect(await fingerprint(store, short)).toBeUndefined();
        expect(await fingerprint(store, fresh)).toBeDefined();

        const forced = await store.prune({ ...under, olderThanMs: day });
        expect(forced.removed.map((r) => r.path)).toEqual([fresh]);
        expect(await fingerprint(store, fresh)).toBeUndefined();
      });

      it('delete removes one checkpoint (false when there is none); list shows what there is, with identity and state', { timeout }, async () => {
        const store = await connect();
        const one = harness.name('one');
        const two = harness.name('two');
        await existing(store, one, identityOf('first'));
        await existing(store, two, identityOf('second'));
        const rows = new Map<string, string | undefined>();
        for await (const row of store.list(harness.under !== undefined ? { under: harness.under } : {})) rows.set(row.name, row.reading?.identity.id);
        expect(rows.get(one)).toBe('first');
        expect(rows.get(two)).toBe('second');
        expect(await store.delete(one)).toBe(true);
        expect(await store.delete(one)).toBe(false);
        expect(await fingerprint(store, one)).toBeUndefined();
        expect(await fingerprint(store, two)).toBeDefined();
        const missing = await rejection(store.read(harness.name('never-written')));
        expect(isCkptError(missing, 'invalid'), String(missing)).toBe(true);
      });
    });

    describe('one owner at a time', () => {
      it('a second open while the owner lives is refused (code locked) naming its host and pid; list and read show the owner live; nothing is written', {
        timeout,
      }, async () => {
        const first = await connect();
        const second = await connect();
        const name = harness.name('owned');
        const opened = await first.open(base(name, identityOf('job'), 'if-exists', true));
        await opened.log.append([{ type: 'unit-completed', unit: 'a', outcome: 'success' }], { durability: 'durable' });
        const owner = (await second.read(name)).owner;
        expect(owner?.state).toBe('live');
        const before = await fingerprint(second, name);
        for (const save of [true, false]) {
          const error = await rejection(second.open(base(name, identityOf('job'), 'if-exists', save)));
          expect(isCkptError(error, 'locked'), String(error)).toBe(true);
          expect(error!.message).toContain(String(owner!.pid));
          expect(error!.message).toContain(owner!.host);
        }
        expect(await rejection(second.delete(name))).toBeDefined();
        expect(await fingerprint(second, name)).toBe(before);
        // The owner is undisturbed, and once it closes, the next open proceeds.
        await opened.log.append([{ type: 'unit-completed', unit: 'b', outcome: 'success' }], { durability: 'durable' });
        await opened.close({ remove: false });
        const next = await second.open(base(name, identityOf('job'), 'if-exists', true));
        expect([...next.startState.completed.keys()]).toEqual(['a', 'b']);
        await next.close({ remove: false });
      });

      it('waitMs waits for a live owner to finish instead of refusing', { timeout }, async () => {
        const first = await connect();
        const second = await connect();
        const name = harness.name('wait');
        const opened = await first.open(base(name, identityOf('job'), 'if-exists', true));
        await opened.log.append([{ type: 'unit-completed', unit: 'a', outcome: 'success' }], { durability: 'durable' });
        const waiting = second.open({ ...base(name, identityOf('job'), 'if-exists', true), waitMs: 20_000 });
        setTimeout(() => void opened.close({ remove: false }), 300);
        const next = await waiting;
        expect(next.startState.completed.has('a')).toBe(true);
        await next.close({ remove: false });
      });

      it('a dead owner is taken over at once: the next owner resumes from every acknowledged event', { timeout }, async () => {
        const first = await connect();
        const name = harness.name('dead-owner');
        const opened = await first.open(base(name, identityOf('job'), 'if-exists', true));
        await opened.log.append([{ type: 'unit-completed', unit: 'a', outcome: 'success' }], { durability: 'durable' });
        await opened.log.append([{ type: 'unit-completed', unit: 'b', outcome: 'success' }], { durability: 'buffered' });
        await opened.log.sync();
        await harness.kill(first);
        const second = await connect();
        const started = Date.now();
        const next = await second.open(base(name, identityOf('job'), 'if-exists', true));
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(next.resumed).toBe(true);
        expect([...next.startState.completed.keys()]).toEqual(['a', 'b']);
        await next.log.append([{ type: 'unit-completed', unit: 'c', outcome: 'success' }], { durability: 'durable' });
        await next.close({ remove: false });
        expect([...(await second.read(name)).state.completed.keys()]).toEqual(['a', 'b', 'c']);
      });
    });

    describe('journal', () => {
      it('acknowledged appends survive a crash, and the reopened state is the fold of a whole-record prefix of what was appended that holds every acknowledged one', {
        timeout: timeout * 4,
      }, async () => {
        const batchArb = fc.record({
          size: fc.integer({ min: 1, max: 3 }),
          durability: fc.constantFrom('durable' as const, 'buffered' as const),
          await: fc.boolean(),
          syncAfter: fc.boolean(),
        });
        const scenarioArb = fc.record({
          batches: fc.array(batchArb, { minLength: 1, maxLength: 12 }),
          crashSeed: fc.integer({ min: 0, max: 0x7fff_ffff }),
        });
        let round = 0;
        await fc.assert(
          fc.asyncProperty(scenarioArb, async ({ batches, crashSeed }) => {
            const store = await connect();
            const name = harness.name(`journal-${round++}`);
            const identity = identityOf('journal');
            const opened = await store.open(base(name, identity, 'if-exists', true));
            const appended: CkptEvent[][] = [];
            const acknowledged = new Set<string>();
            const pending: Promise<unknown>[] = [];
            let unit = 0;
            for (const batch of batches) {
              const events: CkptEvent[] = Array.from(
                { length: batch.size },
                () => ({ type: 'unit-completed', unit: `u${unit++}`, outcome: 'success' }) as CkptEvent,
              );
              appended.push(events);
              const units = events.map((e) => (e as { unit: string }).unit);
              const append = opened.log.append(events, { durability: batch.durability }).then(
                () => {
                  if (batch.durability === 'durable') for (const u of units) acknowledged.add(u);
                },
                () => undefined,
              );
              pending.push(append);
              if (batch.await) await append;
              if (batch.syncAfter) {
                const upTo = appended.flat().map((e) => (e as { unit: string }).unit);
                const barrier = opened.log.sync().then(
                  () => upTo.forEach((u) => acknowledged.add(u)),
                  () => undefined,
                );
                pending.push(barrier);
                if (batch.await) await barrier;
              }
            }
            // Crash with appends and barriers possibly in flight: only what resolved before counts.
            const ackedAtCrash = new Set(acknowledged);
            const after = await harness.crash(crashSeed);
            connected.push(after);
            await Promise.allSettled(pending);
            const reopened = await after.open(base(name, identity, 'if-exists', true));
            const reading = await after.read(name, { withEntries: true }).catch(() => undefined);
            const survived = [...reopened.startState.completed.keys()];
            await reopened.close({ remove: true });
            for (const u of ackedAtCrash) expect(survived, `acknowledged ${u} lost`).toContain(u);
            // Whole records, in order: the survivors are the events of the first k batches.
            const all = appended.flat().map((e) => (e as { unit: string }).unit);
            expect(survived).toEqual(all.slice(0, survived.length));
            const boundaries = new Set([0]);
            appended.reduce((n, b) => (boundaries.add(n + b.length), n + b.length), 0);
            expect(boundaries.has(survived.length), `a record was torn: ${survived.length} events survived`).toBe(true);
            // The resumed state is the fold of what the store holds.
            if (reading !== undefined) {
              const entries = reading.entries ?? [];
              const snapshot = entries.findLast((entry) => entry.kind === 'snapshot');
              const tail = snapshot === undefined ? entries : entries.slice(entries.indexOf(snapshot) + 1);
              const fold = new Fold([]);
              const state = fold.foldEvents(eventsOf(tail), snapshot?.kind === 'snapshot' ? snapshot.state : fold.initial());
              expect([...state.completed.keys()]).toEqual(survived);
            }
          }),
          propertySettings(options.journalRuns ?? 25),
        );
      });
    });
  });
}
