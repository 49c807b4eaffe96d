import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pinnedSeed } from '../test-support/fixtures.js';
import type { CkptEvent, VariableSet } from './events.js';
import { Fold, FoldError } from './fold.js';
import type { PlainValue } from './plain.js';
import { restoreSnapshot, snapshotState } from './snapshot.js';
import { cloneState, type CheckpointState } from './state.js';

/**
 * Variables set inside an atomic scope (a transaction, a loop that reruns whole) are held by the
 * fold in that scope until it commits, as the completions inside it are: given what was
 * recorded, when the next events land, then the state's variables are these.
 */

const fold = new Fold();

const set = (name: string, value: PlainValue, scope?: string): VariableSet => ({
  type: 'variable-set',
  name,
  value,
  valueType: typeof value === 'number' ? 'int' : 'string',
  sensitive: false,
  ...(scope !== undefined && { scope }),
});
const open = (scope: string, parent?: string): CkptEvent => ({
  type: 'scope-opened',
  scope,
  kind: 'transaction',
  ...(parent !== undefined && { parent }),
});
const commit = (scope: string): CkptEvent => ({ type: 'scope-committed', scope });
const abort = (scope: string): CkptEvent => ({ type: 'scope-aborted', scope, reason: 'a step failed' });

/** The state's variables as name → value. */
const values = (state: CheckpointState) => Object.fromEntries([...state.variables].map(([name, v]) => [name, v.value]));
/** What scope `id` holds pending, as name → value. */
const pending = (state: CheckpointState, id: string) =>
  Object.fromEntries([...(state.scopes.get(id)?.variables ?? [])].map(([n, v]) => [n, v.value]));

/** `given(events).when(events)` → the state after both. */
function given(...before: CkptEvent[]) {
  return { when: (...after: CkptEvent[]) => fold.foldEvents(after, fold.foldEvents(before)) };
}

describe('scoped variables in the fold', () => {
  it('given a variable set inside an open transaction, then it is pending there and the state keeps the value from before', () => {
    const state = given({ type: 'attempt-started', attempt: 1 }, set('rows', 1), open('tx')).when(set('rows', 2, 'tx'), set('day', 'mon', 'tx'));
    expect(values(state)).toEqual({ rows: 1 });
    expect(pending(state, 'tx')).toEqual({ rows: 2, day: 'mon' });
    expect(state.scopes.get('tx')?.variables.get('rows')).toMatchObject({ name: 'rows', value: 2, valueType: 'int', attempt: 1 });
  });

  it('given a variable pending in a transaction, when it commits, then the value becomes the variable', () => {
    const state = given(set('rows', 1), open('tx'), set('rows', 2, 'tx')).when(commit('tx'));
    expect(values(state)).toEqual({ rows: 2 });
    expect(state.scopes.size).toBe(0);
  });

  it('given nested scopes, when the inner one commits, then its variables move to the outer one; when that commits, to the state', () => {
    const base = given(set('rows', 1), open('outer'), set('day', 'mon', 'outer'), open('inner', 'outer'), set('rows', 3, 'inner'));
    const innerCommitted = base.when(commit('inner'));
    expect(values(innerCommitted)).toEqual({ rows: 1 });
    expect(pending(innerCommitted, 'outer')).toEqual({ day: 'mon', rows: 3 });
    expect(values(fold.foldEvents([commit('outer')], innerCommitted))).toEqual({ rows: 3, day: 'mon' });
    // The outer scope aborting after the inner one committed drops both.
    expect(values(fold.foldEvents([abort('outer')], innerCommitted))).toEqual({ rows: 1 });
  });

  it('given a later value in the outer scope than in the committed inner one, then the later one wins (last write, as recorded)', () => {
    const state = given(open('outer'), open('inner', 'outer'), set('rows', 3, 'inner'), commit('inner')).when(
      set('rows', 4, 'outer'),
      commit('outer'),
    );
    expect(values(state)).toEqual({ rows: 4 });
    const earlier = given(open('outer'), set('rows', 4, 'outer'), open('inner', 'outer'), set('rows', 3, 'inner')).when(
      commit('inner'),
      commit('outer'),
    );
    expect(values(earlier)).toEqual({ rows: 3 });
  });

  it('given variables pending in a transaction and in a scope inside it, when the transaction aborts, then both are dropped', () => {
    const state = given(set('rows', 1), open('tx'), set('rows', 2, 'tx'), open('loop', 'tx'), set('day', 'tue', 'loop')).when(abort('tx'));
    expect(values(state)).toEqual({ rows: 1 });
    expect(state.scopes.size).toBe(0);
  });

  it('given a crash with a transaction open, when the next attempt aborts it and sets the variable again, then it starts from the value before the scope', () => {
    const crashed = fold.foldEvents([
      { type: 'attempt-started', attempt: 1 },
      set('rows', 1),
      open('load@transaction'),
      { type: 'unit-started', unit: 'load', scope: 'load@transaction' },
      set('rows', 99, 'load@transaction'),
      // killed here: no commit, no abort, no attempt-ended
    ]);
    // What a restart reads: the committed value, and the scope left open with its pending value.
    expect(values(crashed)).toEqual({ rows: 1 });
    expect(pending(crashed, 'load@transaction')).toEqual({ rows: 99 });
    const restarted = fold.foldEvents([{ type: 'attempt-started', attempt: 2 }, abort('load@transaction')], crashed);
    expect(values(restarted)).toEqual({ rows: 1 });
    expect(restarted.scopes.size).toBe(0);
    const rerun = fold.foldEvents(
      [
        open('load@transaction'),
        set('rows', 2, 'load@transaction'),
        commit('load@transaction'),
        { type: 'unit-completed', unit: 'load', outcome: 'success' },
      ],
      restarted,
    );
    expect(rerun.variables.get('rows')).toMatchObject({ value: 2, attempt: 2 });
  });

  it('given a variable-set naming a scope that is not open, then it is invalid and changes nothing', () => {
    const state = cloneState(fold.foldEvents([set('rows', 1), open('tx'), set('rows', 2, 'tx'), commit('tx')]));
    const before = cloneState(state);
    expect(() => fold.applyInPlace(state, set('rows', 3, 'tx'))).toThrow(FoldError);
    expect(() => fold.applyInPlace(state, set('rows', 3, 'never'))).toThrow(/variable-set: scope "never" is not open/);
    expect(() => fold.applyInPlace(state, { ...set('rows', 3), scope: '' } as CkptEvent)).toThrow(FoldError);
    expect(state).toEqual(before);
    // In a record, the whole record is undone; the one before it stays.
    expect(() => fold.applyAllInPlace(state, [open('again'), set('rows', 4, 'again'), set('rows', 5, 'gone')])).toThrow(FoldError);
    expect(state).toEqual(before);
  });

  it('a record that sets, commits or moves scoped variables and then fails is undone whole', () => {
    const base = fold.foldEvents([set('rows', 1), open('outer'), set('day', 'mon', 'outer'), open('inner', 'outer'), set('rows', 3, 'inner')]);
    const invalid = { type: 'unit-started' } as unknown as CkptEvent;
    for (const batch of [[set('rows', 4, 'inner')], [commit('inner')], [commit('inner'), commit('outer')], [abort('outer')], [set('rows', 5)]]) {
      const state = cloneState(base);
      expect(() => fold.applyAllInPlace(state, [...batch, invalid]), JSON.stringify(batch)).toThrow(FoldError);
      expect(state, JSON.stringify(batch)).toEqual(base);
    }
  });

  it('given variables pending in nested scopes, when the state is snapshotted and restored, then they are still pending and commit as before', () => {
    const events = [set('rows', 1), open('outer'), set('day', 'mon', 'outer'), open('inner', 'outer'), set('rows', 3, 'inner')];
    const state = fold.foldEvents(events);
    const restored = restoreSnapshot(snapshotState(state, fold), fold);
    expect(restored).toEqual(state);
    expect(snapshotState(state, fold).scopes.find((s) => s.scope === 'inner')?.variables).toEqual([state.scopes.get('inner')!.variables.get('rows')]);
    const more = [commit('inner'), commit('outer')];
    expect(fold.foldEvents(more, restored)).toEqual(fold.foldEvents(more, state));
    expect(values(fold.foldEvents(more, restored))).toEqual({ rows: 3, day: 'mon' });
  });

  it('a snapshot scope without "variables" (format version 1) holds none; a malformed one is refused', () => {
    const plain = snapshotState(fold.foldEvents([open('tx')]), fold);
    expect(plain.scopes[0]).not.toHaveProperty('variables');
    expect(restoreSnapshot(plain, fold).scopes.get('tx')?.variables.size).toBe(0);
    const bad = { ...plain, scopes: [{ ...plain.scopes[0]!, variables: [{ value: 1 }] }] };
    expect(() => restoreSnapshot(bad, fold)).toThrow(/scopes\[\]\.variables/);
    expect(() => restoreSnapshot({ ...plain, scopes: [{ ...plain.scopes[0]!, variables: null }] }, fold)).toThrow(FoldError);
  });
});

/** Steps of a run with nested scopes; interpreted into a valid event sequence. */
type Step =
  | { readonly op: 'open' }
  | { readonly op: 'commit' }
  | { readonly op: 'abort'; readonly depth: number }
  | { readonly op: 'set'; readonly name: string; readonly value: number; readonly outside: boolean }
  | { readonly op: 'complete'; readonly unit: string };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.constant({ op: 'open' as const }),
  fc.constant({ op: 'commit' as const }),
  fc.record({ op: fc.constant('abort' as const), depth: fc.nat(3) }),
  fc.record({ op: fc.constant('set' as const), name: fc.constantFrom('a', 'b', 'c'), value: fc.integer(), outside: fc.boolean() }),
  fc.record({ op: fc.constant('complete' as const), unit: fc.constantFrom('u', 'v') }),
);

/** The events of `steps`, and what a reference model says the committed variables are. */
function interpret(steps: readonly Step[]): { events: CkptEvent[]; committed: Record<string, number> } {
  const events: CkptEvent[] = [];
  const open: { id: string; vars: Record<string, number> }[] = [];
  let committed: Record<string, number> = {};
  let n = 0;
  for (const step of steps) {
    switch (step.op) {
      case 'open': {
        const id = `s${n++}`;
        events.push({ type: 'scope-opened', scope: id, kind: 'loop', ...(open.length > 0 && { parent: open.at(-1)!.id }) });
        open.push({ id, vars: {} });
        break;
      }
      case 'commit': {
        const top = open.pop();
        if (top === undefined) break;
        events.push({ type: 'scope-committed', scope: top.id });
        if (open.length > 0) Object.assign(open.at(-1)!.vars, top.vars);
        else committed = { ...committed, ...top.vars };
        break;
      }
      case 'abort': {
        if (open.length === 0) break;
        const at = Math.max(0, open.length - 1 - step.depth);
        events.push({ type: 'scope-aborted', scope: open[at]!.id });
        open.splice(at);
        break;
      }
      case 'set': {
        const scope = step.outside ? undefined : open.at(-1);
        events.push(set(step.name, step.value, scope?.id));
        if (scope !== undefined) scope.vars[step.name] = step.value;
        else committed = { ...committed, [step.name]: step.value };
        break;
      }
      case 'complete':
        events.push({ type: 'unit-completed', unit: step.unit, outcome: 'success', ...(open.length > 0 && { scope: open.at(-1)!.id }) });
        break;
    }
  }
  return { events, committed };
}

describe('scoped variables: properties', () => {
  it('the committed variables are those of the reference model, at every prefix', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), (steps) => {
        for (let i = 0; i <= steps.length; i++) {
          const { events, committed } = interpret(steps.slice(0, i));
          expect(values(fold.foldEvents(events))).toEqual(committed);
        }
      }),
      pinnedSeed(),
    );
  });

  it('a snapshot taken anywhere restores to the same state, and folding on from it gives the same state', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), fc.nat(), (steps, cut) => {
        const { events } = interpret(steps);
        const at = events.length === 0 ? 0 : cut % (events.length + 1);
        const head = fold.foldEvents(events.slice(0, at));
        const restored = restoreSnapshot(snapshotState(head, fold), fold);
        expect(restored).toEqual(head);
        expect(fold.foldEvents(events.slice(at), restored)).toEqual(fold.foldEvents(events));
      }),
      pinnedSeed(),
    );
  });

  it('evolve equals applyInPlace and never mutates its input; a failing record leaves the state as it was', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 30 }), fc.integer({ min: 1, max: 4 }), (steps, size) => {
        const { events } = interpret(steps);
        let evolved = fold.initial();
        const mutable = cloneState(fold.initial());
        for (let i = 0; i < events.length; i += size) {
          const batch = events.slice(i, i + size);
          const probe = cloneState(mutable);
          expect(() => fold.applyAllInPlace(probe, [...batch, { type: 'unit-started' } as unknown as CkptEvent])).toThrow(FoldError);
          expect(probe).toEqual(mutable);
          for (const event of batch) {
            const before = cloneState(evolved);
            const next = fold.evolve(evolved, event);
            expect(evolved).toEqual(before);
            evolved = next;
          }
          fold.applyAllInPlace(mutable, batch);
          expect(mutable).toEqual(evolved);
        }
      }),
      pinnedSeed(),
    );
  });
});
