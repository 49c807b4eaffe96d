import { join } from 'node:path';
import { firstValueFrom, from, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { CkptEvent } from '../fold/events.js';
import { testIdentity, useTempDir } from '../test-support/fixtures.js';
import { Engine, type ExecutionEntry } from './engine.js';
import { defineRunner, type RunContext, type Runner } from './runner.js';

const dir = useTempDir('engine');

/** The notices of the runner below. */
type CopyNotice = { readonly kind: 'progress'; readonly done: number } | { readonly kind: 'warning'; readonly message: string };

/** Its result. */
interface CopyResult {
  readonly units: number;
  readonly skipped: number;
}

interface CopyJob {
  readonly units: readonly string[];
  readonly failAt?: string;
  /** Awaited after each unit's completion is emitted, before the next unit starts. */
  readonly between?: (unit: string, context: RunContext) => Promise<void>;
}

/** A runner on the new contract: records, notices and a typed result, written as an async function. */
const copyRunner = defineRunner<CopyJob, CopyResult, CopyNotice>({
  kind: 'test',
  identify: () => testIdentity(),
  run: async (job, context, emit) => {
    let done = 0;
    let skipped = 0;
    for (const unit of job.units) {
      if (context.startState.completed.has(unit)) {
        skipped++;
        continue;
      }
      emit.record({ type: 'unit-started', unit });
      if (job.failAt === unit) {
        emit.notice({ kind: 'warning', message: `${unit} failed` });
        emit.record({ type: 'unit-failed', unit, error: { message: `${unit} failed` } });
        throw new Error(`${unit} failed`);
      }
      emit.record([
        { type: 'cursor-set', unit, cursor: 1 },
        { type: 'unit-completed', unit, outcome: 'success' },
      ]);
      emit.notice({ kind: 'progress', done: ++done });
      await job.between?.(unit, context);
    }
    return { units: done, skipped };
  },
});

const checkpoint = (path: string) => ({ checkpoint: { path, usage: 'if-exists' as const, save: true, keepOnSuccess: true } });
const events = (entries: readonly ExecutionEntry[]) =>
  entries.flatMap((entry) => (entry.kind === 'event' ? [{ type: entry.event.type, replayed: entry.replayed, durable: entry.durable }] : []));

describe('the runner contract: records, notices, a typed result', () => {
  it('a runner built with defineRunner returns its typed result in RunResult.result', async () => {
    const result = await new Engine().run(copyRunner, { units: ['a', 'b'] }, checkpoint(join(dir.path, 'a.ckpt')));
    expect(result.outcome).toBe('success');
    const typed: CopyResult | undefined = result.result; // typed, not unknown
    expect(typed).toEqual({ units: 2, skipped: 0 });
    expect([...result.state.completed.keys()]).toEqual(['a', 'b']);
    // An array in one record: both events share a seq.
    expect(result.state.cursors.get('a')?.cursor).toBe(1);
  });

  it('a failed run has no result, and its error is the runner’s', async () => {
    const result = await new Engine().run(copyRunner, { units: ['a', 'b'], failAt: 'b' }, checkpoint(join(dir.path, 'f.ckpt')));
    expect(result.outcome).toBe('failure');
    expect(result.error?.message).toBe('b failed');
    expect('result' in result).toBe(false);
  });

  it('notices reach notices(), in order, never the checkpoint; the Observable completes with the run', async () => {
    const path = join(dir.path, 'n.ckpt');
    const execution = await new Engine().open(copyRunner, { units: ['a', 'b'], failAt: 'b' }, checkpoint(path));
    const seen = firstValueFrom(execution.notices().pipe(toArray()));
    const recorded = firstValueFrom(execution.entries().pipe(toArray()));
    await execution.run();
    expect(await seen).toEqual([
      { kind: 'progress', done: 1 },
      { kind: 'warning', message: 'b failed' },
    ]);
    const types = events(await recorded).map((e) => e.type);
    expect(types).toContain('unit-failed');
    expect(JSON.stringify(await recorded)).not.toMatch(/progress|warning/);
  });

  it('redactNotice masks every notice exactly once; a notice it throws on is dropped', async () => {
    const calls: string[] = [];
    const masked: Runner<CopyJob, CopyResult, CopyNotice> = {
      ...copyRunner,
      redactNotice: (notice) => {
        calls.push(notice.kind);
        if (notice.kind === 'warning') throw new Error('cannot mask');
        return { ...notice, done: -1 };
      },
    };
    const execution = await new Engine().open(masked, { units: ['a', 'b'], failAt: 'b' }, checkpoint(join(dir.path, 'r.ckpt')));
    const seen = firstValueFrom(execution.notices().pipe(toArray()));
    await execution.run();
    expect(await seen).toEqual([{ kind: 'progress', done: -1 }]);
    expect(calls).toEqual(['progress', 'warning']);
  });

  it('a plain-event runner (the older form) still runs, without a result', async () => {
    const plain: Runner<null> = {
      kind: 'test',
      identify: () => testIdentity(),
      run: () =>
        from<(CkptEvent | CkptEvent[])[]>([
          { type: 'unit-started', unit: 'a' },
          [{ type: 'unit-completed', unit: 'a', outcome: 'success', result: 7 }],
        ]),
    };
    const result = await new Engine().run(plain, null, checkpoint(join(dir.path, 'p.ckpt')));
    expect(result.outcome).toBe('success');
    expect(result.state.completed.get('a')?.result).toBe(7);
    expect('result' in result).toBe(false);
  });

  it('an Observable runner says the same with { record }, { notice } and { result } messages', async () => {
    const messages: Runner<null, string> = {
      kind: 'test',
      identify: () => testIdentity(),
      run: () => from([{ record: { type: 'unit-started' as const, unit: 'a' } }, { notice: { kind: 'hello' } }, { result: 'done' }]),
    };
    const execution = await new Engine().open(messages, null, checkpoint(join(dir.path, 'm.ckpt')));
    const seen = firstValueFrom(execution.notices().pipe(toArray()));
    const result = await execution.run();
    expect(result).toMatchObject({ outcome: 'success', result: 'done' });
    expect(result.state.running.has('a')).toBe(true);
    expect(await seen).toEqual([{ kind: 'hello' }]);
  });
});

describe('entries(): replayed or new, durable or not yet', () => {
  it('marks what the checkpoint held at open as replayed, and this run’s entries as new', async () => {
    const path = join(dir.path, 'replay.ckpt');
    await new Engine().run(copyRunner, { units: ['a', 'b'], failAt: 'b' }, checkpoint(path));
    const execution = await new Engine().open(copyRunner, { units: ['a', 'b'] }, checkpoint(path));
    const all = firstValueFrom(execution.entries().pipe(toArray()));
    const result = await execution.run();
    expect(result.result).toEqual({ units: 1, skipped: 1 });
    const seen = events(await all);
    const replayed = seen.filter((e) => e.replayed).map((e) => e.type);
    const fresh = seen.filter((e) => !e.replayed).map((e) => e.type);
    expect(replayed).toEqual(['attempt-started', 'unit-started', 'cursor-set', 'unit-completed', 'unit-started', 'unit-failed', 'attempt-ended']);
    expect(fresh).toEqual(['attempt-started', 'unit-started', 'cursor-set', 'unit-completed', 'attempt-ended']);
    expect(seen.filter((e) => e.replayed).every((e) => e.durable)).toBe(true);
  });

  it('new entries arrive before they are durable; when: durable delivers each only once its record is synced', async () => {
    const path = join(dir.path, 'durable.ckpt');
    const appended: ExecutionEntry[] = [];
    const durableOnly: ExecutionEntry[] = [];
    const completion = (list: ExecutionEntry[], unit: string) =>
      list.find((e) => e.kind === 'event' && e.event.type === 'unit-completed' && e.event.unit === unit);
    // Between units, before the barrier: the completion is appended (and seen) but not durable.
    const between = async (unit: string, context: RunContext) => {
      // entries() delivers after reading the file: wait (bounded) for the completion to arrive.
      for (let turn = 0; turn < 1000 && completion(appended, unit) === undefined; turn++) await new Promise((resolve) => setImmediate(resolve));
      // Nobody asked for durability yet: the record may be written, but it is not synced.
      expect(completion(appended, unit)?.durable).toBe(false);
      expect(completion(durableOnly, unit)).toBeUndefined();
      await context.durable();
      expect(completion(durableOnly, unit)?.durable).toBe(true);
    };
    const execution = await new Engine().open(copyRunner, { units: ['a', 'b'], between }, checkpoint(path));
    execution.entries().subscribe((entry) => appended.push(entry));
    execution.entries({ when: 'durable' }).subscribe((entry) => durableOnly.push(entry));
    const marks: number[] = [];
    execution.durableMarks().subscribe((seq) => marks.push(seq));
    const result = await execution.run();
    expect(result.error).toBeUndefined();
    expect(result.outcome).toBe('success');
    expect(events(durableOnly).every((e) => e.durable)).toBe(true);
    // Everything arrives in the end, in the same order.
    expect(events(durableOnly).map((e) => e.type)).toEqual(events(appended).map((e) => e.type));
    // The marks only advance.
    expect(marks).toEqual([...marks].sort((x, y) => x - y));
    expect(marks.at(-1)).toBeGreaterThanOrEqual(Math.max(...appended.map((e) => e.seq)));
  });

  it('with save off, entries are new and durable at once (nothing is persisted; the barrier resolves at once)', async () => {
    const execution = await new Engine().open(
      copyRunner,
      { units: ['a'] },
      { checkpoint: { path: join(dir.path, 'off.ckpt'), usage: 'never', save: false } },
    );
    const all = firstValueFrom(execution.entries().pipe(toArray()));
    await execution.run();
    const seen = events(await all);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((e) => !e.replayed && e.durable)).toBe(true);
  });
});
