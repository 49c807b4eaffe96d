import { join } from 'node:path';
import { Engine } from '@ckpt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { definePackage, forEach, sequence } from './builder.js';
import { closestName } from './closest-name.js';
import { rerunSelection } from './rerun.js';
import { ControlFlowRunner } from './runner.js';
import { Effects, tempDir } from './test-support/harness.js';
import type { Package } from './model.js';

const fx = new Effects();
const shape = (): Package =>
  definePackage(
    { id: 'p', version: 1 },
    fx.task('a'),
    sequence('outer', [fx.task('b'), sequence('inner', [fx.task('c'), fx.task('d')]), fx.task('e')]),
    forEach('loop', { items: [1, 2] }, [fx.task('f'), fx.task('g')], { checkpointIterations: true }),
    forEach('atomic', { items: [1] }, [fx.task('h'), fx.task('i')]),
    sequence('tx', [fx.task('j'), fx.task('k')], { transaction: 'required' }),
    fx.task('z'),
  );

describe('rerunSelection (what --rerun runs again)', () => {
  it('the step, every later step in package order, and the containers around it', () => {
    expect(rerunSelection(shape(), ['c'])).toEqual(['outer', 'inner', 'c', 'd', 'e', 'loop', 'f', 'g', 'atomic', 'h', 'i', 'tx', 'j', 'k', 'z']);
    expect(rerunSelection(shape(), ['d'])).toEqual(['outer', 'inner', 'd', 'e', 'loop', 'f', 'g', 'atomic', 'h', 'i', 'tx', 'j', 'k', 'z']);
    expect(rerunSelection(shape(), ['z'])).toEqual(['z']);
  });

  it('a step inside a loop with checkpointIterations reruns from that step in its iterations', () => {
    expect(rerunSelection(shape(), ['g'])).toEqual(['loop', 'g', 'atomic', 'h', 'i', 'tx', 'j', 'k', 'z']);
  });

  it('a step inside an atomic container (transaction required, loop without checkpointIterations) reruns the container whole', () => {
    expect(rerunSelection(shape(), ['i'])).toEqual(['atomic', 'h', 'i', 'tx', 'j', 'k', 'z']);
    expect(rerunSelection(shape(), ['k'])).toEqual(['tx', 'j', 'k', 'z']);
  });

  it('several steps: the union, in package order', () => {
    expect(rerunSelection(shape(), ['z', 'j'])).toEqual(['tx', 'j', 'k', 'z']);
  });
});

it('closestName finds the nearest id by edit distance', () => {
  expect(closestName('lod', ['extract', 'load', 'publish'])).toBe('load');
  expect(closestName('Publsh', ['extract', 'load', 'publish'])).toBe('publish');
});

describe('--rerun in the runner', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  it('reruns a step in every iteration of a loop with checkpointIterations, skipping the steps before it', async () => {
    const effects = new Effects();
    const pkg = definePackage(
      { id: 'p', version: 1 },
      effects.task('a'),
      forEach('loop', { items: [1, 2] }, [effects.task('f'), effects.task('g')], { checkpointIterations: true }),
      effects.task('z'),
    );
    const path = join(dir, 'p.ckpt');
    effects.failing.add('z');
    const run = (rerun?: string[]) =>
      new Engine().run(new ControlFlowRunner(), { package: pkg, ...(rerun && { rerun }) }, { checkpoint: { path, usage: 'if-exists', save: true } });
    expect((await run()).outcome).toBe('failure');
    effects.log.length = 0;
    expect((await run(['g'])).outcome).toBe('failure');
    expect(effects.log).toEqual(['loop[0]/g', 'loop[1]/g']);
    effects.failing.clear();
    effects.log.length = 0;
    expect((await run()).outcome).toBe('success');
    expect(effects.log).toEqual(['z']);
  });
});
