/**
 * The SSIS restart rules (docs/restart-semantics.md) as given/when/then tests of the pure
 * {@link decide}: given what the checkpoint holds, when the run meets an event, then this is
 * the decision. Rules 1–3 and 7 (usage, identity, what is stored, captured configuration) are
 * the engine's and the attempt's start, not decisions of a step: restart-rules.test.ts runs them.
 */
import type { CompletedUnit, CursorRecord, ScopeRecord } from '@ckpt/core';
import { describe, expect, it } from 'vitest';
import { definePackage, sequence, task } from './builder.js';
import type { StepDefinition } from './compile.js';
import { NOTHING_RECORDED, decide, type ChildStatus, type DecideEvent, type DecideState, type Decisions, type Siblings } from './decide.js';
import { parseExpression } from './expression.js';
import type { Step } from './model.js';

const noop = async () => undefined;

/** `given(checkpoint).when(event).then(decision)`. */
function given(state: Partial<DecideState> = {}) {
  const full: DecideState = { ...NOTHING_RECORDED, ...state };
  return {
    when<E extends DecideEvent>(event: E) {
      return {
        then(expected: Decisions[E['type']]): void {
          expect(decide(full, event)).toEqual(expected);
        },
      };
    },
  };
}

const completed = (unit: string, outcome: 'success' | 'failure' = 'success', extra: Partial<CompletedUnit> = {}): [string, CompletedUnit] => [
  unit,
  { unit, outcome, attempt: 1, ...extra },
];
const scope = (id: string, kind: 'transaction' | 'loop', parent?: string): [string, ScopeRecord] => [
  id,
  {
    scope: id,
    kind,
    attempt: 1,
    completed: new Map(),
    cursors: new Map(),
    variables: new Map(),
    ...(parent !== undefined && { parent }),
  } as ScopeRecord,
];
const cursor = (unit: string, next: number, attempt = 1): [string, CursorRecord] => [unit, { unit, cursor: { next }, attempt }];

/** The root steps of a package of `defs` (function tasks and sequences). */
function stepsOf(...defs: StepDefinition[]): readonly Step[] {
  return definePackage({ id: 'p', version: 1 }, ...defs).root.steps;
}

function siblings(steps: readonly Step[], status: readonly ChildStatus[], more: Partial<Omit<Siblings, 'steps' | 'status'>> = {}): Siblings {
  return { steps, status, errors: 0, maximumErrorCount: 1, failParent: false, ...more };
}

const never = () => {
  throw new Error('no when expression here');
};

describe('decide: restart (SSIS rule 4: the task is the smallest restart unit)', () => {
  it('given a completed task, when it is reached, then it is skipped with its outcome', () => {
    given({ completed: new Map([completed('extract')]) })
      .when({ type: 'unit-reached', unit: 'extract', ephemeral: false })
      .then({ type: 'skip', outcome: 'success' });
  });

  it('given a task recorded failed (not completed), when it is reached, then it runs again', () => {
    given({ completed: new Map([completed('extract')]) })
      .when({ type: 'unit-reached', unit: 'load', ephemeral: false })
      .then({ type: 'run' });
  });

  it('given a completed step inside a sequence, when it is reached, then it is skipped (a sequence is not atomic)', () => {
    given({ completed: new Map([completed('publish/swap')]) })
      .when({ type: 'unit-reached', unit: 'publish/swap', ephemeral: false })
      .then({ type: 'skip', outcome: 'success' });
  });

  it('given a completed unit, when an onError handler step with that id runs (ephemeral), then it runs: handlers fire again', () => {
    given({ completed: new Map([completed('onError/notify')]) })
      .when({ type: 'unit-reached', unit: 'onError/notify', ephemeral: true })
      .then({ type: 'run' });
  });

  it('given a completion older than a recorded --rerun of its step, when it is reached, then it runs again', () => {
    given({ completed: new Map([completed('load')]), reruns: [{ attempt: 2, requested: ['load'], steps: ['load'] }] })
      .when({ type: 'unit-reached', unit: 'load', ephemeral: false })
      .then({ type: 'run' });
  });

  it('given a completion recorded in the attempt of the --rerun (after it), when it is reached, then it is skipped', () => {
    given({ completed: new Map([completed('load', 'success', { attempt: 2 })]), reruns: [{ attempt: 2, requested: ['load'], steps: ['load'] }] })
      .when({ type: 'unit-reached', unit: 'load', ephemeral: false })
      .then({ type: 'skip', outcome: 'success' });
  });
});

describe('decide: open scopes at restart (SSIS rule 5: transacted containers are atomic)', () => {
  it('given a crash left a transaction open, when the attempt starts, then its rollback runs, then the scope is aborted', () => {
    given({ scopes: new Map([scope('publish@transaction', 'transaction')]) })
      .when({ type: 'attempt-started' })
      .then([
        { type: 'roll-back', scope: 'publish@transaction', unit: 'publish', stepId: 'publish' },
        { type: 'abort-scope', scope: 'publish@transaction', reason: 'left open by an attempt that did not finish; rerun whole' },
      ]);
  });

  it('given nested open scopes, when the attempt starts, then transactions roll back innermost first and only the outermost scope is aborted', () => {
    given({
      scopes: new Map([
        scope('outer@transaction', 'transaction'),
        scope('outer/loop@loop', 'loop', 'outer@transaction'),
        scope('outer/loop/inner@transaction', 'transaction', 'outer/loop@loop'),
      ]),
    })
      .when({ type: 'attempt-started' })
      .then([
        { type: 'roll-back', scope: 'outer/loop/inner@transaction', unit: 'outer/loop/inner', stepId: 'inner' },
        { type: 'roll-back', scope: 'outer@transaction', unit: 'outer', stepId: 'outer' },
        { type: 'abort-scope', scope: 'outer@transaction', reason: 'left open by an attempt that did not finish; rerun whole' },
      ]);
  });

  it('given nothing open, when the attempt starts, then nothing is rolled back', () => {
    given().when({ type: 'attempt-started' }).then([]);
  });
});

describe('decide: loops (SSIS rule 6, and checkpointIterations beyond it)', () => {
  it('given a loop cursor, when a loop without checkpointIterations is reached, then it reruns whole from iteration 0 and init', () => {
    given({ cursors: new Map([cursor('per-region', 2)]) })
      .when({ type: 'loop-reached', unit: 'per-region', checkpointIterations: false, ephemeral: false })
      .then({ type: 'iterate', at: 0, init: true });
  });

  it('given a loop cursor { next: 2 }, when a loop with checkpointIterations is reached, then it resumes at iteration 2 without init', () => {
    given({ cursors: new Map([cursor('per-region', 2)]) })
      .when({ type: 'loop-reached', unit: 'per-region', checkpointIterations: true, ephemeral: false })
      .then({ type: 'iterate', at: 2, init: false });
  });

  it('given a loop cursor voided by a later --rerun, when the loop is reached, then it starts over', () => {
    given({ cursors: new Map([cursor('per-region', 2)]), reruns: [{ attempt: 2, requested: ['per-region'], steps: ['per-region'] }] })
      .when({ type: 'loop-reached', unit: 'per-region', checkpointIterations: true, ephemeral: false })
      .then({ type: 'iterate', at: 0, init: true });
  });

  it('given a completed iteration, when it is reached in a loop with checkpointIterations, then it is skipped', () => {
    given({ completed: new Map([completed('per-region[0]')]) })
      .when({ type: 'unit-reached', unit: 'per-region[0]', ephemeral: false })
      .then({ type: 'skip', outcome: 'success' });
  });
});

describe('decide: forceResult (SSIS rule 8)', () => {
  it('given a step forced to completion (recorded as success with result completion), when it is reached, then it is skipped with outcome completion', () => {
    given({ completed: new Map([completed('check', 'success', { result: { result: 'completion' } })]) })
      .when({ type: 'unit-reached', unit: 'check', ephemeral: false })
      .then({ type: 'skip', outcome: 'completion' });
  });

  it('given a sibling ended with completion, when a step after it on success is ready, then it is skipped; on completion, it runs', () => {
    const steps = stepsOf(
      task('check', noop),
      task('on-success', noop, { after: { check: 'success' } }),
      task('on-completion', noop, { after: { check: 'completion' } }),
    );
    const status: ChildStatus[] = ['completion', 'pending', 'pending'];
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, status), index: 1, holds: never })
      .then({ type: 'skip' });
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, status), index: 2, holds: never })
      .then({ type: 'run' });
  });
});

describe('decide: restart respects precedence (SSIS rule 9)', () => {
  const steps = stepsOf(
    task('load', noop),
    task('cleanup', noop, { after: { load: 'failure' } }),
    task('report', noop, { after: { load: 'success' } }),
  );

  it('given a handled failure (recorded completed with outcome failure), when it is reached, then it is skipped with outcome failure', () => {
    given({ completed: new Map([completed('load', 'failure')]) })
      .when({ type: 'unit-reached', unit: 'load', ephemeral: false })
      .then({ type: 'skip', outcome: 'failure' });
  });

  it('given load ended in failure, when its failure path and its success path are ready, then the failure path runs and the success path is skipped', () => {
    const status: ChildStatus[] = ['failure', 'pending', 'pending'];
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, status), index: 1, holds: never })
      .then({ type: 'run' });
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, status), index: 2, holds: never })
      .then({ type: 'skip' });
  });

  it('given a failure path and room under maximumErrorCount, when load fails, then the failure is handled (not a restart point)', () => {
    given()
      .when({
        type: 'step-failed',
        siblings: siblings(steps, ['running', 'pending', 'pending'], { maximumErrorCount: 2 }),
        index: 0,
        packageFailed: false,
        ephemeral: false,
      })
      .then({ type: 'record-failure', handled: true });
  });

  it('given the default maximumErrorCount of 1, when load fails, then the failure fails the container: recorded failed, it reruns', () => {
    given()
      .when({ type: 'step-failed', siblings: siblings(steps, ['running', 'pending', 'pending']), index: 0, packageFailed: false, ephemeral: false })
      .then({ type: 'record-failure', handled: false });
  });

  it('given no sibling follows it on failure or completion, when a step fails, then it is not handled', () => {
    const plain = stepsOf(task('a', noop), task('b', noop));
    given()
      .when({
        type: 'step-failed',
        siblings: siblings(plain, ['running', 'pending'], { maximumErrorCount: 5 }),
        index: 0,
        packageFailed: false,
        ephemeral: false,
      })
      .then({ type: 'record-failure', handled: false });
  });

  it('given failPackageOnFailure on the step, or a failing package, or an event-handler run, when it fails, then it is not handled', () => {
    const fatal = stepsOf(task('load', noop, { failPackageOnFailure: true }), task('cleanup', noop, { after: { load: 'failure' } }));
    const roomy = { maximumErrorCount: 5 };
    given()
      .when({ type: 'step-failed', siblings: siblings(fatal, ['running', 'pending'], roomy), index: 0, packageFailed: false, ephemeral: false })
      .then({ type: 'record-failure', handled: false });
    given()
      .when({
        type: 'step-failed',
        siblings: siblings(steps, ['running', 'pending', 'pending'], roomy),
        index: 0,
        packageFailed: true,
        ephemeral: false,
      })
      .then({ type: 'record-failure', handled: false });
    given()
      .when({
        type: 'step-failed',
        siblings: siblings(steps, ['running', 'pending', 'pending'], roomy),
        index: 0,
        packageFailed: false,
        ephemeral: true,
      })
      .then({ type: 'record-failure', handled: false });
  });
});

describe('decide: precedence constraints', () => {
  it('given no after, when a step is ready, then it waits for the step before it to succeed, and is skipped if it did not', () => {
    const steps = stepsOf(task('a', noop), task('b', noop));
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['running', 'pending']), index: 1, holds: never })
      .then({ type: 'wait' });
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['success', 'pending']), index: 1, holds: never })
      .then({ type: 'run' });
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['failure', 'pending']), index: 1, holds: never })
      .then({ type: 'skip' });
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['pending', 'pending']), index: 0, holds: never })
      .then({ type: 'run' });
  });

  it('given afterLogic and, when one predecessor is still running, then the step waits; when one was skipped, it is skipped', () => {
    const steps = stepsOf(task('a', noop, { after: [] }), task('b', noop, { after: [] }), task('c', noop, { after: { a: 'success', b: 'success' } }));
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['success', 'running', 'pending']), index: 2, holds: never })
      .then({ type: 'wait' });
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['success', 'skipped', 'pending']), index: 2, holds: never })
      .then({ type: 'skip' });
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['success', 'success', 'pending']), index: 2, holds: never })
      .then({ type: 'run' });
  });

  it('given afterLogic or, when one predecessor is met, then the step runs without waiting for the other', () => {
    const steps = stepsOf(
      task('a', noop, { after: [] }),
      task('b', noop, { after: [] }),
      task('c', noop, { after: { a: 'success', b: 'success' }, afterLogic: 'or' }),
    );
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['success', 'running', 'pending']), index: 2, holds: never })
      .then({ type: 'run' });
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['failure', 'running', 'pending']), index: 2, holds: never })
      .then({ type: 'wait' });
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['failure', 'stopped', 'pending']), index: 2, holds: never })
      .then({ type: 'skip' });
  });

  it('given a when expression, when its constraint is met, then the expression decides; it is not evaluated for an unmet constraint', () => {
    const steps = definePackage(
      { id: 'p', version: 1, variables: { go: { type: 'boolean' } } },
      task('a', noop),
      task('b', noop, { after: [{ a: 'success', when: 'vars.go' }] }),
    ).root.steps;
    const when = parseExpression('vars.go');
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['success', 'pending']), index: 1, holds: (e) => (expect(e).toEqual(when), false) })
      .then({ type: 'skip' });
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['success', 'pending']), index: 1, holds: () => true })
      .then({ type: 'run' });
    given()
      .when({ type: 'step-ready', siblings: siblings(steps, ['failure', 'pending']), index: 1, holds: never })
      .then({ type: 'skip' });
  });
});

describe('decide: how a container ends', () => {
  const steps = stepsOf(sequence('s', [task('a', noop)]), task('b', noop));

  it('given every child ran and errors stayed below the maximum, when the children settle, then the container succeeds', () => {
    given()
      .when({ type: 'children-settled', siblings: siblings(steps, ['success', 'skipped']), messages: [] })
      .then({ type: 'container-ended', outcome: 'success' });
    given()
      .when({
        type: 'children-settled',
        siblings: siblings(steps, ['failure', 'success'], { errors: 1, maximumErrorCount: 2 }),
        messages: ['s: boom'],
      })
      .then({ type: 'container-ended', outcome: 'success' });
  });

  it('given errors reached the maximum, when the children settle, then the container fails with their messages', () => {
    given()
      .when({ type: 'children-settled', siblings: siblings(steps, ['failure', 'skipped'], { errors: 1 }), messages: ['s: boom'] })
      .then({ type: 'container-ended', outcome: 'failure', error: 's: boom' });
  });

  it('given a child left pending (the package is failing), when the children settle, then the container is unfinished: failed, never complete', () => {
    given()
      .when({ type: 'children-settled', siblings: siblings(steps, ['success', 'pending']), messages: [] })
      .then({ type: 'container-ended', outcome: 'failure', error: 'stopped before all its steps ran, because the package is failing' });
  });

  it('given failParentOnFailure fired, when the children settle, then the container fails even below its maximum', () => {
    given()
      .when({
        type: 'children-settled',
        siblings: siblings(steps, ['failure', 'skipped'], { errors: 1, maximumErrorCount: 5, failParent: true }),
        messages: [],
      })
      .then({ type: 'container-ended', outcome: 'failure', error: 'a step failed' });
  });
});

describe('decide is pure', () => {
  it('the same state and event give the same decision, and the state is not changed', () => {
    const state: DecideState = {
      ...NOTHING_RECORDED,
      completed: new Map([completed('a')]),
      scopes: new Map([scope('t@transaction', 'transaction')]),
      cursors: new Map([cursor('loop', 3)]),
    };
    const before = JSON.stringify([[...state.completed], [...state.scopes.keys()], [...state.cursors]]);
    for (const event of [
      { type: 'attempt-started' },
      { type: 'unit-reached', unit: 'a', ephemeral: false },
      { type: 'loop-reached', unit: 'loop', checkpointIterations: true, ephemeral: false },
    ] as const) {
      expect(decide(state, event)).toEqual(decide(state, event));
    }
    expect(JSON.stringify([[...state.completed], [...state.scopes.keys()], [...state.cursors]])).toBe(before);
  });
});
