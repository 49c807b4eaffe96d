import { createIdentity, type CkptEvent, type RunContext, type Runner } from '@ckpt/core';
import fc from 'fast-check';
import { Observable } from 'rxjs';
import type { EffectRecorder } from '../runner/runner-contract.js';

/** A job of the sample runner: units run in order; a failing unit fails the job. */
export interface SampleJob {
  readonly units: readonly { readonly id: string; readonly fails: boolean }[];
}

/** How the sample runner may be broken, to show the contract catches it. */
export type SampleRunnerFlaw =
  /** Reruns units the checkpoint records complete. */
  | 'ignores-checkpoint'
  /** Records a unit complete (durably) before doing its effect. */
  | 'completes-before-effect';

/** Jobs of 1–6 units, a few of which fail. */
export const sampleJobs: fc.Arbitrary<SampleJob> = fc
  .array(fc.nat({ max: 9 }), { minLength: 1, maxLength: 6 })
  .map((rolls) => ({ units: rolls.map((roll, i) => ({ id: `unit-${i}`, fails: roll === 0 })) }));

/**
 * A minimal sequential runner (tests only): for each unit not yet complete, record it started,
 * do its effect, record it complete, and wait for durability before the next unit.
 */
export function sampleRunner(effects: EffectRecorder, flaw?: SampleRunnerFlaw): Runner<SampleJob> {
  return {
    kind: 'sample',
    identify: (job) => createIdentity({ kind: 'sample', id: 'job', version: 1, structure: job.units.map((u) => u.id) }),
    run: (job: SampleJob, ctx: RunContext) =>
      new Observable<CkptEvent>((subscriber) => {
        let stopped = false;
        const work = async () => {
          for (const unit of job.units) {
            if (stopped) return;
            if (flaw !== 'ignores-checkpoint' && ctx.startState.completed.has(unit.id)) continue;
            subscriber.next({ type: 'unit-started', unit: unit.id });
            if (unit.fails) {
              effects.ran(unit.id);
              subscriber.next({ type: 'unit-failed', unit: unit.id, error: { message: 'planned failure' } });
              subscriber.error(new Error(`${unit.id} failed`));
              return;
            }
            if (flaw === 'completes-before-effect') {
              subscriber.next({ type: 'unit-completed', unit: unit.id, outcome: 'success' });
              await ctx.durable();
              effects.ran(unit.id);
            } else {
              effects.ran(unit.id);
              subscriber.next({ type: 'unit-completed', unit: unit.id, outcome: 'success', result: unit.id.length });
              await ctx.durable();
            }
          }
          subscriber.complete();
        };
        work().catch((error: unknown) => subscriber.error(error));
        return () => {
          stopped = true;
        };
      }),
  };
}
