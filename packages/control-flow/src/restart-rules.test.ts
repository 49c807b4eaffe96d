/**
 * Every SSIS checkpoint rule and every beyond-SSIS item of issue 4 as a named test.
 * docs/restart-semantics.md links each rule to its test here.
 * Over ~400 lines on purpose: one file is where the docs say every rule's end-to-end test lives
 * (decide.test.ts states the same rules against the pure decisions).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointNotFoundError, Engine, Fold, IdentityMismatchError, NodeStorage, readLog } from '@ckpt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { definePackage, forEach, forLoop, sequence, task } from './builder.js';
import { ControlFlowRunner } from './runner.js';
import { Effects, runPackage, skippedByCheckpoint, tempDir } from './test-support/harness.js';

let dir: string;
let cleanup: () => Promise<void>;
let path: string;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  path = join(dir, 'pkg.ckpt');
});
afterEach(async () => cleanup());

const readState = async (file: string) => (await readLog(new NodeStorage(), file, new Fold())).state;

describe('SSIS rule 1: CheckpointUsage × SaveCheckpoints', () => {
  it('rule 1: usage always with no checkpoint fails before any task runs', async () => {
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1 }, fx.task('a'));
    await expect(
      new Engine().open(new ControlFlowRunner(), { package: pkg }, { checkpoint: { path, usage: 'always', save: true } }),
    ).rejects.toBeInstanceOf(CheckpointNotFoundError);
    expect(fx.count('a')).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('rule 1: usage always resumes from an existing checkpoint', async () => {
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b'));
    fx.failing.add('b');
    expect((await runPackage(pkg, path, { usage: 'never', save: true })).result.outcome).toBe('failure');
    fx.failing.clear();
    const { result, notices } = await runPackage(pkg, path, { usage: 'always', save: true });
    expect(result.outcome).toBe('success');
    expect(skippedByCheckpoint(notices)).toEqual(['a']);
  });

  it('rule 1: usage never runs the package from the start even when a checkpoint exists', async () => {
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b'));
    fx.failing.add('b');
    await runPackage(pkg, path, { usage: 'if-exists', save: true });
    fx.failing.clear();
    const { result, notices } = await runPackage(pkg, path, { usage: 'never', save: true });
    expect(result.outcome).toBe('success');
    expect(result.resumed).toBe(false);
    expect(skippedByCheckpoint(notices)).toEqual([]);
    expect(fx.count('a')).toBe(2);
  });

  it('rule 1: usage if-exists starts fresh without a checkpoint and resumes with one', async () => {
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b'));
    fx.failing.add('b');
    const first = await runPackage(pkg, path, { usage: 'if-exists', save: true });
    expect(first.result.resumed).toBe(false);
    fx.failing.clear();
    const second = await runPackage(pkg, path, { usage: 'if-exists', save: true });
    expect(second.result.resumed).toBe(true);
    expect(fx.count('a')).toBe(1);
  });

  it('rule 1: save off writes no checkpoint, so a failed run restarts from the beginning', async () => {
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b'));
    fx.failing.add('b');
    expect((await runPackage(pkg, path, { usage: 'if-exists', save: false })).result.outcome).toBe('failure');
    expect(existsSync(path)).toBe(false);
    fx.failing.clear();
    await runPackage(pkg, path, { usage: 'if-exists', save: false });
    expect(fx.count('a')).toBe(2);
  });
});

describe('SSIS rule 2: identity', () => {
  it('rule 2: a checkpoint of another package id, version or step structure is refused and left untouched', async () => {
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b'));
    fx.failing.add('b');
    await runPackage(pkg, path);
    const before = await readFile(path);
    const others = [
      definePackage({ id: 'other', version: 1 }, fx.task('a'), fx.task('b')),
      definePackage({ id: 'p', version: 2 }, fx.task('a'), fx.task('b')),
      definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b'), fx.task('c')),
      definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b', { after: { a: 'completion' } })),
    ];
    for (const other of others) {
      await expect(runPackage(other, path)).rejects.toBeInstanceOf(IdentityMismatchError);
      expect(Buffer.compare(await readFile(path), before)).toBe(0);
    }
    expect(fx.count('a')).toBe(1);
  });

  it('rule 2: changing a command or forceResult is not a structure change', async () => {
    const fx = new Effects();
    fx.failing.add('b');
    await runPackage(definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b', { forceResult: 'failure' })), path);
    fx.failing.clear();
    const { result } = await runPackage(definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b')), path);
    expect(result.outcome).toBe('success');
  });
});

describe('SSIS rule 3: what the checkpoint holds', () => {
  it('rule 3: the checkpoint holds completed units, variable values (not object-typed) and the configuration; deleted on success, kept on failure', async () => {
    const fx = new Effects();
    const pkg = definePackage(
      {
        id: 'p',
        version: 1,
        config: { outDir: '/tmp/out' },
        variables: { rows: { type: 'int', value: 0 }, conn: { type: 'object' } },
      },
      fx.task('a', {}, (ctx) => {
        ctx.setVariable('rows', 42);
        ctx.setVariable('conn', 'a live connection');
      }),
      fx.task('b'),
    );
    fx.failing.add('b');
    const failed = await runPackage(pkg, path);
    expect(failed.result.outcome).toBe('failure');
    expect(existsSync(path)).toBe(true);
    const state = await readState(path);
    expect([...state.completed.keys()]).toEqual(['a']);
    expect(state.variables.get('rows')?.value).toBe(42);
    expect(state.variables.has('conn')).toBe(false);
    expect(state.config).toEqual({ outDir: '/tmp/out' });
    fx.failing.clear();
    const done = await runPackage(pkg, path);
    expect(done.result.outcome).toBe('success');
    expect(done.result.checkpointRemoved).toBe(true);
    expect(existsSync(path)).toBe(false);
  });
});

describe('SSIS rule 4: the task is the smallest restart unit', () => {
  it('rule 4: completed tasks are skipped on restart, the failed one runs again', async () => {
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1 }, fx.task('a'), sequence('s', [fx.task('b'), fx.task('c'), fx.task('d')]), fx.task('e'));
    fx.failing.add('c');
    await runPackage(pkg, path);
    expect(fx.log).toEqual(['a', 's/b']);
    fx.failing.clear();
    const { result, notices } = await runPackage(pkg, path);
    expect(result.outcome).toBe('success');
    expect(skippedByCheckpoint(notices)).toEqual(['a', 's/b']);
    expect(fx.log).toEqual(['a', 's/b', 's/c', 's/d', 'e']);
  });
});

describe('SSIS rule 5: transacted containers are atomic', () => {
  it('rule 5: a transacted container interrupted mid-way is rolled back and reruns whole', async () => {
    const fx = new Effects();
    const rollbacks: string[] = [];
    const controller = new AbortController();
    fx.beforeEffect = (unit) => {
      if (unit === 'tx/y') controller.abort();
    };
    const pkg = definePackage(
      { id: 'p', version: 1 },
      fx.task('a'),
      sequence('tx', [fx.task('x'), fx.task('y')], {
        transaction: 'required',
        rollback: () => void rollbacks.push(`rollback after ${fx.log.join(',')}`),
      }),
    );
    const first = await runPackage(pkg, path, { signal: controller.signal });
    expect(first.result.outcome).toBe('interrupted');
    expect(fx.log).toEqual(['a', 'tx/x']);
    fx.beforeEffect = () => undefined;
    const second = await runPackage(pkg, path);
    expect(second.result.outcome).toBe('success');
    expect(rollbacks).toEqual(['rollback after a,tx/x']);
    expect(skippedByCheckpoint(second.notices)).toEqual(['a']);
    expect(fx.log).toEqual(['a', 'tx/x', 'tx/x', 'tx/y']);
  });

  it('rule 5: a transacted container whose child fails is rolled back, and its completed children rerun', async () => {
    const fx = new Effects();
    let rolledBack = 0;
    const pkg = definePackage(
      { id: 'p', version: 1 },
      sequence('tx', [fx.task('x'), fx.task('y')], { transaction: 'required', rollback: () => void rolledBack++ }),
    );
    fx.failing.add('y');
    await runPackage(pkg, path);
    expect(rolledBack).toBe(1);
    fx.failing.clear();
    const { notices } = await runPackage(pkg, path);
    expect(skippedByCheckpoint(notices)).toEqual([]);
    expect(fx.count('tx/x')).toBe(2);
  });
});

describe('transaction options', () => {
  it('a not-supported step inside a transaction stays outside it: its completion survives the rollback', async () => {
    const fx = new Effects();
    const pkg = definePackage(
      { id: 'p', version: 1 },
      sequence('tx', [fx.task('inside'), fx.task('audit', { transaction: 'not-supported' }), fx.task('last')], {
        transaction: 'required',
        rollback: () => undefined,
      }),
    );
    fx.failing.add('last');
    await runPackage(pkg, path);
    fx.failing.clear();
    const { notices } = await runPackage(pkg, path);
    expect(skippedByCheckpoint(notices)).toEqual(['tx/audit']);
    expect(fx.count('tx/inside')).toBe(2);
    expect(fx.count('tx/audit')).toBe(1);
  });

  it('variables set inside a transaction are recorded with its commit, and forgotten when it rolls back', async () => {
    const fx = new Effects();
    const seen: unknown[] = [];
    const pkg = definePackage(
      { id: 'p', version: 1, variables: { rows: { type: 'int', value: 0 } } },
      sequence('tx', [fx.task('set', {}, (ctx) => ctx.setVariable('rows', (ctx.getVariable('rows') as number) + 5)), fx.task('check')], {
        transaction: 'required',
        rollback: () => undefined,
      }),
      fx.task('after', {}, (ctx) => void seen.push(ctx.getVariable('rows'))),
    );
    fx.failing.add('check');
    await runPackage(pkg, path);
    expect((await readState(path)).variables.get('rows')?.value).toBe(0);
    fx.failing.clear();
    await runPackage(pkg, path);
    expect(seen).toEqual([5]);
  });

  it('a variable set inside a transaction is recorded at once, in its scope; after a crash there the rerun starts from the value before it', async () => {
    const fx = new Effects();
    const read: unknown[] = [];
    const controller = new AbortController();
    fx.beforeEffect = (unit) => {
      if (unit === 'tx/check' && !controller.signal.aborted) controller.abort();
    };
    const pkg = definePackage(
      { id: 'p', version: 1, variables: { rows: { type: 'int', value: 0 } } },
      sequence(
        'tx',
        [
          fx.task('set', {}, (ctx) => {
            read.push(ctx.getVariable('rows'));
            ctx.setVariable('rows', (ctx.getVariable('rows') as number) + 5);
          }),
          fx.task('check'),
        ],
        { transaction: 'required', rollback: () => undefined },
      ),
      fx.task('after', {}, (ctx) => void read.push(ctx.getVariable('rows'))),
    );
    await runPackage(pkg, path, { signal: controller.signal });
    // Killed inside the transaction: the value is in the log, held by its open scope.
    const reading = await readLog(new NodeStorage(), path, new Fold([], 'count'), { withEntries: true });
    const sets = (reading.entries ?? []).flatMap((e) => (e.kind === 'event' && e.event.type === 'variable-set' ? [e.event] : []));
    expect(sets.at(-1)).toMatchObject({ name: 'rows', value: 5, scope: 'tx@transaction' });
    expect(reading.state.variables.get('rows')?.value).toBe(0);
    expect(reading.state.scopes.get('tx@transaction')?.variables.get('rows')?.value).toBe(5);
    await runPackage(pkg, path);
    // The rerun of `set` reads 0 again (not 5), and the committed 5 reaches `after`.
    expect(read).toEqual([0, 0, 5]);
  });

  it('a required step inside an open transaction joins it (one scope, one commit)', async () => {
    const fx = new Effects();
    const pkg = definePackage(
      { id: 'p', version: 1 },
      sequence('outer', [fx.task('a'), sequence('inner', [fx.task('b')], { transaction: 'required' }), fx.task('c')], {
        transaction: 'required',
        rollback: () => undefined,
      }),
    );
    fx.failing.add('c');
    await runPackage(pkg, path);
    fx.failing.clear();
    const { notices } = await runPackage(pkg, path);
    expect(skippedByCheckpoint(notices)).toEqual([]);
    expect(fx.count('outer/inner/b')).toBe(2);
  });
});

describe('SSIS rule 6: loops rerun whole by default', () => {
  it('rule 6: a forEach loop reruns whole: iterations that finished run again', async () => {
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1 }, forEach('each', { items: ['eu', 'us', 'apac'], as: 'region' }, [fx.task('load')]));
    fx.failing.add('each[2]/load');
    await runPackage(pkg, path);
    fx.failing.clear();
    const { notices } = await runPackage(pkg, path);
    expect(skippedByCheckpoint(notices)).toEqual([]);
    expect(fx.count('each[0]/load')).toBe(2);
    expect(fx.count('each[2]/load')).toBe(1);
  });

  it('rule 6: variables set in a loop that reruns whole are held in its scope: after a crash in it the rerun starts from the values before it', async () => {
    const fx = new Effects();
    const read: unknown[] = [];
    const controller = new AbortController();
    fx.beforeEffect = (unit) => {
      if (unit === 'each[2]/add' && !controller.signal.aborted) controller.abort();
    };
    const pkg = definePackage(
      { id: 'p', version: 1, variables: { total: { type: 'int', value: 1 } } },
      forEach('each', { items: [10, 20, 30], as: 'n' }, [
        fx.task('add', {}, (ctx) => {
          read.push(ctx.getVariable('total'));
          ctx.setVariable('total', (ctx.getVariable('total') as number) + (ctx.getVariable('n') as number));
        }),
      ]),
    );
    await runPackage(pkg, path, { signal: controller.signal });
    const state = await readState(path);
    expect(state.variables.get('total')?.value).toBe(1);
    expect(state.scopes.get('each@loop')?.variables.get('total')?.value).toBe(31);
    await runPackage(pkg, path);
    expect(read).toEqual([1, 11, 1, 11, 31]);
  });

  it('rule 6: a for loop reruns whole from init, with its variables reset', async () => {
    const fx = new Effects();
    const seen: number[] = [];
    const pkg = definePackage(
      { id: 'p', version: 1, variables: { i: { type: 'int', value: 0 } } },
      forLoop('loop', { init: 'vars.i = 0', while: 'vars.i < 3', next: 'vars.i = vars.i + 1' }, [
        fx.task('body', {}, (ctx) => void seen.push(ctx.getVariable('i') as number)),
      ]),
    );
    fx.failing.add('loop[2]/body');
    await runPackage(pkg, path);
    fx.failing.clear();
    await runPackage(pkg, path);
    expect(seen).toEqual([0, 1, 0, 1, 2]);
  });
});

describe('SSIS rule 7: configuration is captured once', () => {
  it('rule 7: configuration is not re-read on restart: the captured values are used, and a warning names the keys that differ', async () => {
    const fx = new Effects();
    const seen: unknown[] = [];
    const pkg = definePackage(
      { id: 'p', version: 1, config: { outDir: 'a', mode: 'x' } },
      fx.task('a', {}, (ctx) => void seen.push(ctx.getConfig('outDir'))),
      fx.task('b', {}, (ctx) => void seen.push(ctx.getConfig('outDir'))),
    );
    fx.failing.add('b');
    await runPackage(pkg, path, { config: { outDir: 'first' } });
    fx.failing.clear();
    const { notices } = await runPackage(pkg, path, { config: { outDir: 'second' } });
    expect(seen).toEqual(['first', 'first']);
    const warnings = notices.flatMap((n) => (n.kind === 'warning' ? [n.message] : []));
    expect(warnings.some((w) => w.includes('outDir') && !w.includes('mode'))).toBe(true);
  });
});

describe('SSIS rule 8: forceResult', () => {
  it('rule 8: forceResult failure makes a task that works fail, so the next run restarts there', async () => {
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1 }, fx.task('a'), fx.task('b'), fx.task('c'));
    const first = await runPackage(pkg, path, { forceResults: { b: 'failure' } });
    expect(first.result.outcome).toBe('failure');
    expect(fx.log).toEqual(['a', 'b']);
    const second = await runPackage(pkg, path);
    expect(second.result.outcome).toBe('success');
    expect(skippedByCheckpoint(second.notices)).toEqual(['a']);
    expect(fx.log).toEqual(['a', 'b', 'b', 'c']);
  });

  it('rule 8: forceResult success lets a failing task pass, and completion satisfies only completion constraints', async () => {
    const fx = new Effects();
    fx.failing.add('a');
    const pkg = definePackage(
      { id: 'p', version: 1 },
      fx.task('a', { forceResult: 'success' }),
      fx.task('b', { forceResult: 'completion' }),
      fx.task('c', { after: { b: 'success' } }),
      fx.task('d', { after: { b: 'completion' } }),
    );
    const { result } = await runPackage(pkg, path);
    expect(result.outcome).toBe('success');
    expect(fx.log).toEqual(['b', 'd']);
  });
});

describe('SSIS rule 9: restart respects precedence', () => {
  it('rule 9: a failure whose failure path ran (handled) is not repeated, nor is its failure path; the failure that failed the package reruns', async () => {
    const fx = new Effects();
    const pkg = definePackage(
      { id: 'p', version: 1, maximumErrorCount: 2 },
      fx.task('a'),
      fx.task('alert', { after: { a: 'failure' } }),
      fx.task('c', { after: { a: 'completion' } }),
      fx.task('d'),
    );
    fx.failing.add('a');
    fx.failing.add('d');
    const first = await runPackage(pkg, path);
    expect(first.result.outcome).toBe('failure');
    expect(first.result.state.completed.get('a')?.outcome).toBe('failure');
    fx.failing.clear();
    const second = await runPackage(pkg, path);
    expect(second.result.outcome).toBe('success');
    expect(skippedByCheckpoint(second.notices)).toEqual(['a', 'alert', 'c']);
    expect(fx.count('a')).toBe(0);
    expect(fx.count('alert')).toBe(1);
    expect(fx.count('d')).toBe(1);
  });

  it('rule 9: with the default maximum error count the failed task reruns; its failure path that already ran does not', async () => {
    const fx = new Effects();
    const pkg = definePackage(
      { id: 'p', version: 1 },
      fx.task('a'),
      fx.task('alert', { after: { a: 'failure' } }),
      fx.task('next', { after: { a: 'success' } }),
    );
    fx.failing.add('a');
    expect((await runPackage(pkg, path)).result.outcome).toBe('failure');
    expect(fx.log).toEqual(['alert']);
    fx.failing.clear();
    const second = await runPackage(pkg, path);
    expect(second.result.outcome).toBe('success');
    expect(fx.log).toEqual(['alert', 'a', 'next']);
  });
});

describe('beyond SSIS', () => {
  it('beyond: checkpointIterations resumes a forEach loop at its first unfinished iteration', async () => {
    const fx = new Effects();
    const pkg = definePackage(
      { id: 'p', version: 1 },
      forEach('each', { items: ['eu', 'us', 'apac'], as: 'region' }, [fx.task('extract'), fx.task('load')], { checkpointIterations: true }),
    );
    fx.failing.add('each[1]/load');
    await runPackage(pkg, path);
    fx.failing.clear();
    const { notices } = await runPackage(pkg, path);
    expect(skippedByCheckpoint(notices)).toEqual(['each[0]', 'each[1]/extract']);
    expect(fx.log).toEqual(['each[0]/extract', 'each[0]/load', 'each[1]/extract', 'each[1]/load', 'each[2]/extract', 'each[2]/load']);
  });

  it('beyond: checkpointIterations resumes a for loop with its variables as they were', async () => {
    const fx = new Effects();
    const seen: number[] = [];
    const pkg = definePackage(
      { id: 'p', version: 1, variables: { i: { type: 'int', value: 0 } } },
      forLoop(
        'loop',
        { init: 'vars.i = 0', while: 'vars.i < 4', next: 'vars.i = vars.i + 1' },
        [fx.task('body', {}, (ctx) => void seen.push(ctx.getVariable('i') as number))],
        { checkpointIterations: true },
      ),
    );
    fx.failing.add('loop[2]/body');
    await runPackage(pkg, path);
    fx.failing.clear();
    await runPackage(pkg, path);
    expect(seen).toEqual([0, 1, 2, 3]);
  });

  it('beyond: a committed transaction is recorded with its work and never repeated', async () => {
    const fx = new Effects();
    let rolledBack = 0;
    const pkg = definePackage(
      { id: 'p', version: 1 },
      sequence('tx', [fx.task('x'), fx.task('y')], { transaction: 'required', rollback: () => void rolledBack++ }),
      fx.task('after'),
    );
    fx.failing.add('after');
    await runPackage(pkg, path);
    const state = await readState(path);
    expect(state.completed.has('tx')).toBe(true);
    expect(state.scopes.size).toBe(0);
    fx.failing.clear();
    const { notices } = await runPackage(pkg, path);
    expect(skippedByCheckpoint(notices)).toEqual(['tx']);
    expect(fx.count('tx/x')).toBe(1);
    expect(rolledBack).toBe(0);
  });

  it('beyond: a crash that left a transaction open runs its rollback at restart, before the rerun', async () => {
    const fx = new Effects();
    const order: string[] = [];
    const controller = new AbortController();
    fx.beforeEffect = (unit) => {
      order.push(unit);
      if (unit === 'tx/y' && !controller.signal.aborted) controller.abort();
    };
    const pkg = definePackage(
      { id: 'p', version: 1 },
      sequence('tx', [fx.task('x'), fx.task('y')], { transaction: 'required', rollback: () => void order.push('rollback') }),
    );
    await runPackage(pkg, path, { signal: controller.signal });
    expect((await readState(path)).scopes.has('tx@transaction')).toBe(true);
    await runPackage(pkg, path);
    expect(order).toEqual(['tx/x', 'tx/y', 'rollback', 'tx/x', 'tx/y']);
  });

  it('beyond: restart needs one setting: usage if-exists with save on resumes from the point of failure', async () => {
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1, checkpoint: { usage: 'if-exists', save: true } }, fx.task('a'), fx.task('b'));
    fx.failing.add('b');
    await runPackage(pkg, path, { usage: pkg.checkpoint.usage, save: pkg.checkpoint.save });
    fx.failing.clear();
    await runPackage(pkg, path, { usage: pkg.checkpoint.usage, save: pkg.checkpoint.save });
    expect(fx.count('a')).toBe(1);
  });

  it('beyond: parallel branches restart deterministically: completed steps of each branch are skipped, the in-flight ones rerun', async () => {
    const fx = new Effects();
    const controller = new AbortController();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = task('slow', async (ctx) => {
      if (ctx.attempt === 1) {
        release();
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
        throw new Error('stopped');
      }
      fx.counts.set('slow', fx.count('slow') + 1);
    });
    const pkg = definePackage(
      { id: 'p', version: 1 },
      sequence('left', [fx.task('l1'), fx.task('l2')], { after: {} }),
      sequence('right', [fx.task('r1'), slow], { after: {} }),
      fx.task('join', { after: { left: 'success', right: 'success' } }),
    );
    const first = runPackage(pkg, path, { signal: controller.signal });
    await gate;
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    expect((await first).result.outcome).toBe('interrupted');
    const second = await runPackage(pkg, path);
    expect(second.result.outcome).toBe('success');
    expect(skippedByCheckpoint(second.notices).sort()).toEqual(['left', 'right/r1']);
    expect(fx.count('left/l1') + fx.count('left/l2') + fx.count('right/r1') + fx.count('slow') + fx.count('join')).toBe(5);
  });

  it('beyond: onError handlers fire again when the failure happens again on the rerun', async () => {
    const fx = new Effects();
    const fired: string[] = [];
    const pkg = definePackage(
      { id: 'p', version: 1, onError: [task('notify', (ctx) => void fired.push(`${ctx.attempt}:${String(ctx.getVariable('failedStep'))}`))] },
      fx.task('a'),
      fx.task('b'),
    );
    fx.failing.add('b');
    await runPackage(pkg, path);
    await runPackage(pkg, path);
    expect(fired).toEqual(['1:b', '2:b']);
    expect(fx.count('a')).toBe(1);
  });

  it('beyond: a container onError handler fires for failures inside it', async () => {
    const fx = new Effects();
    const fired: string[] = [];
    const pkg = definePackage(
      { id: 'p', version: 1 },
      { ...sequence('s', [fx.task('x')]), onError: [task('h', (ctx) => void fired.push(String(ctx.getVariable('failedStep'))))] },
    );
    fx.failing.add('x');
    await runPackage(pkg, path);
    expect(fired).toEqual(['s/x']);
  });

  it('beyond: secrets are never written in clear, and a restart needs the key or the value again', async () => {
    const fx = new Effects();
    const secret = 'hunter2-very-secret';
    const pkg = definePackage(
      { id: 'p', version: 1, variables: { token: { type: 'string', value: '', sensitive: true } } },
      fx.task('a'),
      fx.task('b'),
    );
    fx.failing.add('b');
    await runPackage(pkg, path, { set: { token: secret }, secretKey: 'passphrase' });
    expect((await readFile(path)).includes(Buffer.from(secret))).toBe(false);
    fx.failing.clear();
    const seen: unknown[] = [];
    const pkg2 = definePackage(
      { id: 'p', version: 1, variables: { token: { type: 'string', value: '', sensitive: true } } },
      fx.task('a'),
      fx.task('b', {}, (ctx) => void seen.push(ctx.getVariable('token'))),
    );
    const { result } = await runPackage(pkg2, path, { secretKey: 'passphrase' });
    expect(result.outcome).toBe('success');
    expect(seen).toEqual([secret]);
  });

  it('beyond: without a key a sensitive value is not persisted, and the rerun asks for it by name', async () => {
    const fx = new Effects();
    const pkg = definePackage(
      { id: 'p', version: 1, variables: { token: { type: 'string', value: '', sensitive: true } } },
      fx.task('a'),
      fx.task('b'),
    );
    fx.failing.add('b');
    await runPackage(pkg, path, { set: { token: 'abc-secret' } });
    expect((await readFile(path)).includes(Buffer.from('abc-secret'))).toBe(false);
    fx.failing.clear();
    const before = await readFile(path);
    // Refused before any work: the checkpoint is left exactly as it was.
    await expect(runPackage(pkg, path)).rejects.toThrow(/variable "token".*--set token=/s);
    expect((await readFile(path)).equals(before)).toBe(true);
    const supplied = await runPackage(pkg, path, { set: { token: 'abc-secret' } });
    expect(supplied.result.outcome).toBe('success');
  });
});

describe('step options', () => {
  it('failPackageOnFailure stops the package at once: its failure path does not run', async () => {
    const fx = new Effects();
    const pkg = definePackage({ id: 'p', version: 1 }, fx.task('a', { failPackageOnFailure: true }), fx.task('alert', { after: { a: 'failure' } }));
    fx.failing.add('a');
    expect((await runPackage(pkg, path)).result.outcome).toBe('failure');
    expect(fx.count('alert')).toBe(0);
  });

  it('failPackageOnFailure: a container stopped before all its steps ran is not recorded complete, so the rerun runs them', async () => {
    let attempt1 = true;
    let signalFailed!: () => void;
    const boomFailed = new Promise<void>((resolve) => (signalFailed = resolve));
    const ran: string[] = [];
    const pkg = definePackage(
      { id: 'p', version: 1 },
      sequence(
        'left',
        [
          task('l1', async () => {
            if (attempt1) await boomFailed;
            ran.push('l1');
          }),
          task('l2', () => void ran.push('l2')),
        ],
        { after: {} },
      ),
      sequence(
        'right',
        [
          task(
            'boom',
            () => {
              if (attempt1) {
                signalFailed();
                throw new Error('boom');
              }
              ran.push('boom');
            },
            { failPackageOnFailure: true },
          ),
        ],
        { after: {} },
      ),
    );
    const first = await runPackage(pkg, path);
    expect(first.result.outcome).toBe('failure');
    expect(ran).toEqual(['l1']);
    expect(first.result.state.completed.has('left')).toBe(false);
    attempt1 = false;
    const second = await runPackage(pkg, path);
    expect(second.result.outcome).toBe('success');
    expect(ran.sort()).toEqual(['boom', 'l1', 'l2']);
  });

  it('failParentOnFailure fails the container even when its error count allows more', async () => {
    const fx = new Effects();
    const pkg = definePackage(
      { id: 'p', version: 1 },
      sequence('s', [fx.task('x', { failParentOnFailure: true }), fx.task('y', { after: { x: 'completion' } })], { maximumErrorCount: 5 }),
    );
    fx.failing.add('x');
    expect((await runPackage(pkg, path)).result.outcome).toBe('failure');
    expect(fx.count('s/y')).toBe(0);
  });

  it('maximum error count: a container succeeds while its failures stay below it', async () => {
    const fx = new Effects();
    const pkg = definePackage(
      { id: 'p', version: 1 },
      sequence('s', [fx.task('x'), fx.task('y', { after: { x: 'completion' } })], { maximumErrorCount: 2 }),
      fx.task('z'),
    );
    fx.failing.add('x');
    const { result } = await runPackage(pkg, path);
    expect(result.outcome).toBe('success');
    expect(fx.log).toEqual(['s/y', 'z']);
  });

  it('timeout fails a task that runs too long', async () => {
    const pkg = definePackage(
      { id: 'p', version: 1 },
      task('slow', (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))), {
        timeout: '50ms',
      }),
    );
    const { result, notices } = await runPackage(pkg, path);
    expect(result.outcome).toBe('failure');
    expect(notices.some((n) => n.kind === 'step-finished' && n.error?.includes('timed out'))).toBe(true);
  });

  it('steps with no constraint between them run in parallel, up to maxConcurrent', async () => {
    let active = 0;
    let peak = 0;
    const work = (id: string) =>
      task(
        id,
        async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((resolve) => setTimeout(resolve, 20));
          active--;
        },
        { after: {} },
      );
    await runPackage(definePackage({ id: 'p', version: 1, maxConcurrent: 2 }, work('a'), work('b'), work('c'), work('d')), path);
    expect(peak).toBe(2);
  });

  it('when expressions and afterLogic or choose among paths', async () => {
    const fx = new Effects();
    const pkg = definePackage(
      { id: 'p', version: 1, variables: { rows: { type: 'int', value: 0 } } },
      fx.task('count', {}, (ctx) => ctx.setVariable('rows', 5)),
      fx.task('big', { after: [{ count: 'success', when: 'vars.rows > 3' }] }),
      fx.task('small', { after: [{ count: 'success', when: 'vars.rows <= 3' }] }),
      fx.task('either', { after: { big: 'success', small: 'success' }, afterLogic: 'or' }),
    );
    const { result } = await runPackage(pkg, path);
    expect(result.outcome).toBe('success');
    expect(fx.log).toEqual(['count', 'big', 'either']);
  });

  it('variables set by a task are restored on restart', async () => {
    const fx = new Effects();
    const seen: unknown[] = [];
    const pkg = definePackage(
      { id: 'p', version: 1, variables: { rows: { type: 'int', value: 0 } } },
      fx.task('a', {}, (ctx) => ctx.setVariable('rows', 7)),
      fx.task('b', {}, (ctx) => void seen.push(ctx.getVariable('rows'))),
    );
    fx.failing.add('b');
    await runPackage(pkg, path);
    fx.failing.clear();
    await runPackage(pkg, path);
    expect(seen).toEqual([7]);
    expect(fx.count('a')).toBe(1);
  });
});

describe('task plug-ins', () => {
  it('a copy step runs through the registered plug-in, with templates expanded and its cursor kept across attempts', async () => {
    const calls: unknown[] = [];
    const copy = {
      kind: 'copy',
      validate: (spec: unknown, where: string) => {
        if (typeof spec !== 'object' || spec === null || typeof (spec as { from?: unknown }).from !== 'string')
          throw new Error(`${where}.from: expected a path`);
        return spec as { from: string; to: string };
      },
      run: async (spec: { from: string; to: string }, ctx: import('./task-context.js').TaskContext) => {
        calls.push({ spec, cursor: ctx.cursor });
        if (ctx.attempt === 1) {
          ctx.setCursor({ offset: 4096 });
          throw new Error('connection lost');
        }
        return { bytes: 8192 };
      },
    };
    const { parsePackageText } = await import('./package-file.js');
    const pkg = parsePackageText(
      'id: p\nversion: 1\nconfig: { dir: out }\nsteps:\n  - id: ship\n    copy: { from: "${{ config.dir }}/a.csv", to: "ckpt://beta/a.csv" }\n',
      {
        file: join(dir, 'p.yaml'),
        plugins: [copy],
      },
    );
    expect((await runPackage(pkg, path, { plugins: [copy] })).result.outcome).toBe('failure');
    expect((await runPackage(pkg, path, { plugins: [copy] })).result.outcome).toBe('success');
    expect(calls).toEqual([
      { spec: { from: 'out/a.csv', to: 'ckpt://beta/a.csv' }, cursor: undefined },
      { spec: { from: 'out/a.csv', to: 'ckpt://beta/a.csv' }, cursor: { offset: 4096 } },
    ]);
  });
});
