/**
 * Crash-restart equivalence over random packages (a small version of the testkit's runner
 * contract suite): interrupt at random points, several times per run, and rerun until done.
 * The final outcome equals the uninterrupted run's, and every unit's effect happened exactly
 * once — completed tasks never rerun, and transactions roll back what they did before rerunning.
 * Each task also counts its runs in a variable of its own: every run that counts must find it
 * unset, so a completed task's value is never lost and one set inside a transaction or a loop
 * that a crash or a failure left uncommitted is never seen by the rerun.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definePackage } from './builder.js';
import type { StepDefinition } from './compile.js';
import { buildSteps, shapeArbitrary, type Shape } from './test-support/contract-jobs.js';
import { Effects, runPackage, tempDir } from './test-support/harness.js';

const shapeArb = shapeArbitrary({ failures: true, transactions: true });

/** The variable a task's runs are counted in (one per unit, so parallel tasks never race). */
const counterOf = (unit: string) => `runs_${unit.replace(/[^A-Za-z0-9]/g, '_')}`;

/**
 * Builds the package; `failOnce` collects step ids that fail on their first run only; each task
 * pushes what its counter held when it ran onto `seen`, then increments it.
 */
function build(shapes: readonly Shape[], fx: Effects, failOnce: Set<string>, seen: unknown[] = []): StepDefinition[] {
  return buildSteps(shapes, {
    task: (id, shape, options) => {
      if (shape.fails) failOnce.add(id);
      return fx.task(id, options, (ctx) => {
        const before = ctx.getVariable(counterOf(ctx.unit));
        seen.push(before);
        ctx.setVariable(counterOf(ctx.unit), ((before as number | undefined) ?? 0) + 1);
      });
    },
    sequence: (shape, options) =>
      shape.transaction
        ? {
            ...options,
            transaction: 'required',
            // Undo the transaction's effects, as a database rollback would.
            rollback: (ctx) => {
              for (const unit of [...fx.counts.keys()]) if (unit.startsWith(`${ctx.unit}/`)) fx.counts.delete(unit);
            },
          }
        : options,
  });
}

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(async () => cleanup());

describe('crash-restart equivalence (property)', () => {
  it('crash (interrupt) at random points and rerun gives the same final outcome and runs each completed unit once', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(shapeArb, { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 3 }),
        async (shapes, crashGaps) => {
          // The reference: an uninterrupted run without failures.
          const reference = new Effects();
          const refPkg = definePackage({ id: 'prop', version: 1 }, ...build(shapes, reference, new Set()));
          const refPath = join(dir, `ref-${round}.ckpt`);
          const refRun = await runPackage(refPkg, refPath);
          expect(refRun.result.outcome).toBe('success');

          const fx = new Effects();
          const failOnce = new Set<string>();
          const seen: unknown[] = [];
          const pkg = definePackage({ id: 'prop', version: 1 }, ...build(shapes, fx, failOnce, seen));
          const path = join(dir, `run-${round++}.ckpt`);
          const crashes = [...crashGaps];
          let effects = 0;
          let controller = new AbortController();
          let crashAt = crashes.length > 0 ? crashes.shift()! : Infinity;
          fx.beforeEffect = (unit) => {
            effects++;
            if (effects >= crashAt) {
              crashAt = crashes.length > 0 ? effects + crashes.shift()! : Infinity;
              controller.abort();
            }
            const id = unit.slice(unit.lastIndexOf('/') + 1);
            if (failOnce.has(id)) {
              failOnce.delete(id);
              fx.failing.add(unit);
            } else fx.failing.delete(unit);
          };
          let outcome: string | undefined;
          for (let attempt = 0; attempt < 50 && outcome !== 'success'; attempt++) {
            controller = new AbortController();
            outcome = (await runPackage(pkg, path, { signal: controller.signal })).result.outcome;
          }
          expect(outcome).toBe('success');
          expect([...fx.counts.keys()].sort()).toEqual([...reference.counts.keys()].sort());
          for (const [unit, count] of fx.counts) expect({ unit, count }).toEqual({ unit, count: 1 });
          expect(seen.filter((value) => value !== undefined)).toEqual([]);
        },
      ),
      { numRuns: Number(process.env['CKPT_PROPERTY_RUNS'] ?? 40) },
    );
  });
});
