import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { coreEventArb, pinnedSeed } from '../test-support/fixtures.js';
import type { CkptEvent } from './events.js';
import { Fold, FoldError, foldEvents } from './fold.js';
import { restoreSnapshot, snapshotState } from './snapshot.js';
import { cloneState } from './state.js';

const fold = new Fold();

describe('fold', () => {
  it('fold(a ++ b) = fold(fold(a), b)', () => {
    fc.assert(
      fc.property(fc.array(coreEventArb, { maxLength: 40 }), fc.array(coreEventArb, { maxLength: 40 }), (a, b) => {
        expect(fold.foldEvents([...a, ...b])).toEqual(fold.foldEvents(b, fold.foldEvents(a)));
      }),
      pinnedSeed(),
    );
  });

  it('evolve step by step equals applyInPlace, and evolve never mutates its input', () => {
    fc.assert(
      fc.property(fc.array(coreEventArb, { maxLength: 40 }), (events) => {
        let evolved = fold.initial();
        const mutable = cloneState(fold.initial());
        for (const event of events) {
          const before = cloneState(evolved);
          const next = fold.evolve(evolved, event);
          expect(evolved).toEqual(before);
          evolved = next;
          fold.applyInPlace(mutable, event);
        }
        expect(mutable).toEqual(evolved);
      }),
      pinnedSeed(),
    );
  });

  it('a snapshot restores to the same state', () => {
    fc.assert(
      fc.property(fc.array(coreEventArb, { maxLength: 60 }), (events) => {
        const state = foldEvents(events);
        expect(restoreSnapshot(snapshotState(state, fold), fold)).toEqual(state);
      }),
      pinnedSeed(),
    );
  });

  it('an invalid event throws FoldError and leaves the state unchanged', () => {
    const state = cloneState(foldEvents([{ type: 'unit-started', unit: 'a' }]));
    const before = cloneState(state);
    const invalid: unknown[] = [
      { type: 'unit-completed', unit: 'a', outcome: 'maybe' },
      { type: 'variable-set', name: 'conn', valueType: 'object', sensitive: false },
      { type: 'variable-set', name: 'token', value: 'clear', sensitive: true },
      { type: 'attempt-started', attempt: 3 },
      { type: 'nobody/knows' },
      { type: 'cursor-set', unit: 'a', cursor: new Date() },
      { type: 'config-captured', config: { a: 1 } },
    ];
    fold.applyInPlace(state, { type: 'config-captured', config: { a: 0 } });
    const captured = cloneState(state);
    for (const event of invalid) {
      expect(() => fold.applyInPlace(state, event as CkptEvent), JSON.stringify(event)).toThrow(FoldError);
      expect(state).toEqual(captured);
    }
    expect(before.config).toBeUndefined();
  });

  it('units completed inside a scope become restart points only when it commits', () => {
    const opened: CkptEvent[] = [
      { type: 'scope-opened', scope: 'tx', kind: 'transaction' },
      { type: 'unit-started', unit: 'swap', scope: 'tx' },
      { type: 'unit-completed', unit: 'swap', outcome: 'success', scope: 'tx' },
    ];
    expect(foldEvents(opened).completed.has('swap')).toBe(false);
    expect(foldEvents([...opened, { type: 'scope-committed', scope: 'tx' }]).completed.has('swap')).toBe(true);
    const aborted = foldEvents([...opened, { type: 'scope-aborted', scope: 'tx' }]);
    expect(aborted.completed.has('swap')).toBe(false);
    expect(aborted.scopes.size).toBe(0);
  });

  it('extension events go to their namespace reducer, and unknown namespaces are refused or counted', () => {
    const counter = new Fold([{ namespace: 'demo', initial: () => 0, evolve: (n: unknown) => (n as number) + 1 }]);
    expect(counter.foldEvents([{ type: 'demo/tick' }, { type: 'demo/tick' }]).extensions.get('demo')).toBe(2);
    expect(() => fold.foldEvents([{ type: 'demo/tick' }])).toThrow(/no reducer/);
    expect(new Fold([], 'count').foldEvents([{ type: 'demo/tick' }]).extensions.get('demo')).toEqual({ unreduced: 1 });
  });
});

describe('applyAllInPlace: one record, all or nothing', () => {
  const invalid = { type: 'unit-started' } as unknown as CkptEvent; // no unit
  const transferReducer = { namespace: 'transfer', initial: () => 0, evolve: (n: unknown) => (n as number) + 1 };

  it('property: a batch that ends with an invalid event leaves the state exactly as it was', () => {
    const fold = new Fold([transferReducer]);
    const extension = fc.constant({ type: 'transfer/progress' } as CkptEvent);
    const event = fc.oneof(coreEventArb, extension);
    fc.assert(
      fc.property(fc.array(event, { maxLength: 20 }), fc.array(event, { minLength: 1, maxLength: 6 }), (before, batch) => {
        const state = cloneState(fold.foldEvents(before));
        const expected = cloneState(state);
        let thrown: unknown;
        try {
          fold.applyAllInPlace(state, [...batch, invalid]);
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toBeInstanceOf(FoldError);
        expect((thrown as FoldError).index).toBe(batch.length);
        expect(state).toEqual(expected);
      }),
      { numRuns: 300, ...pinnedSeed() },
    );
  });

  it('undoes attempts, config, opened, committed and aborted scopes', () => {
    const fold = new Fold();
    const base = fold.foldEvents([
      { type: 'attempt-started', attempt: 1 },
      { type: 'scope-opened', scope: 'tx', kind: 'transaction' },
      { type: 'scope-opened', scope: 'inner', kind: 'transaction', parent: 'tx' },
      { type: 'unit-started', unit: 'a', scope: 'inner' },
      { type: 'unit-completed', unit: 'a', outcome: 'success', scope: 'inner' },
      { type: 'cursor-set', unit: 'c', cursor: 1, scope: 'inner' },
      { type: 'unit-started', unit: 'r', scope: 'tx' },
    ]);
    const batches: CkptEvent[][] = [
      [
        { type: 'attempt-ended', attempt: 1, outcome: 'failure' },
        { type: 'attempt-started', attempt: 2 },
      ],
      [{ type: 'config-captured', config: { a: 1 } }],
      [{ type: 'scope-opened', scope: 'other', kind: 'transaction' }],
      [
        { type: 'scope-committed', scope: 'inner' },
        { type: 'scope-committed', scope: 'tx' },
      ],
      [{ type: 'scope-aborted', scope: 'tx' }],
      [{ type: 'variable-set', name: 'v', value: 1, valueType: 'int', sensitive: false }],
    ];
    for (const batch of batches) {
      const state = cloneState(base);
      expect(() => fold.applyAllInPlace(state, [...batch, invalid]), JSON.stringify(batch)).toThrow(FoldError);
      expect(state, JSON.stringify(batch)).toEqual(base);
      // And without the invalid event, the batch applies.
      const applied = cloneState(base);
      fold.applyAllInPlace(applied, batch);
      expect(applied).toEqual(fold.foldEvents(batch, base));
    }
  });
});
