import type { Storage } from '@ckpt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { journalScenarioArbitrary, journalStepArbitrary } from '../crash/crash-arbitraries.js';
import { CI_WORKLOADS, exploreCrashStates } from '../crash/exhaustive.js';
import { propertySettings, teethSettings } from '../crash/property-settings.js';
import { runJournalScenario } from '../journal/journal-scenario.js';
import { runMediaDamage } from '../journal/media-damage.js';
import { salvagingReader } from '../test-support/salvaging-reader.js';
import { overTruncating, retryingDatasync, withoutBlockingDatasync, withoutDatasync, withoutDirectorySync } from './broken-storage.js';

/**
 * A property that cannot fail is worthless. Each deliberately broken journal below breaks one
 * durability rule; the same properties the core passes must catch every one of them.
 */
const brokenJournals: readonly { name: string; wrap: (storage: Storage) => Storage }[] = [
  { name: 'acknowledges before fdatasync', wrap: withoutDatasync },
  { name: 'acknowledges a lone durable append before its blocking fdatasync', wrap: withoutBlockingDatasync },
  { name: 'skips the directory fsync after rename', wrap: withoutDirectorySync },
  { name: 'truncates a valid record as if torn', wrap: (storage) => overTruncating(storage, 1) },
];

describe('the crash properties have teeth', () => {
  for (const broken of brokenJournals) {
    it(`the exhaustive explorer catches a journal that ${broken.name}`, async () => {
      const caught = [];
      for (const workload of CI_WORKLOADS) {
        const report = await exploreCrashStates(workload, { wrapStorage: broken.wrap });
        caught.push(...report.failures);
      }
      expect(caught.length).toBeGreaterThan(0);
      console.info(
        `[ckpt] teeth: "${broken.name}" caught: ${caught[0]!.message} (crash before op ${caught[0]!.crashAt}, plan ${JSON.stringify(caught[0]!.plan)})`,
      );
    });

    it(`the random crash property catches a journal that ${broken.name}`, async () => {
      const settings = teethSettings(300);
      const result = await fc.check(
        fc.asyncProperty(journalScenarioArbitrary({ faults: false }), async (scenario) => {
          await runJournalScenario(scenario, { wrapStorage: broken.wrap });
        }),
        settings,
      );
      expect(result.failed, `not caught in ${String(settings.numRuns)} runs (seed ${String(settings.seed)})`).toBe(true);
      console.info(`[ckpt] teeth: "${broken.name}" caught by seed ${String(result.seed)}, path ${String(result.counterexamplePath)}`);
    });
  }

  it('the random crash property catches a journal that retries a failed fdatasync (fsyncgate)', async () => {
    const settings = teethSettings(300);
    const withSyncErrors = journalScenarioArbitrary({ faults: false }).chain((scenario) =>
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: scenario.sessions.length, maxLength: scenario.sessions.length }).map((nths) => ({
        ...scenario,
        sessions: scenario.sessions.map((session, i) => ({ ...session, faults: [{ kind: 'datasync' as const, nth: nths[i]!, code: 'EIO' }] })),
      })),
    );
    // The correct journal fails on the first EIO and acknowledges nothing more: it passes.
    await fc.assert(
      fc.asyncProperty(withSyncErrors, (scenario) => runJournalScenario(scenario).then(() => undefined)),
      propertySettings(100),
    );
    const result = await fc.check(
      fc.asyncProperty(withSyncErrors, async (scenario) => {
        await runJournalScenario(scenario, { wrapStorage: retryingDatasync });
      }),
      settings,
    );
    expect(result.failed, `not caught in ${String(settings.numRuns)} runs (seed ${String(settings.seed)})`).toBe(true);
    console.info(`[ckpt] teeth: "retries a failed fdatasync" caught: ${String((result.errorInstance as Error | undefined)?.message)}`);
  });

  const workloadSteps = fc.array(journalStepArbitrary(), { minLength: 2, maxLength: 10 });
  const damage = fc.record({ record: fc.nat(), byte: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) });

  it('core refuses a checkpoint whose durable middle is damaged (never reads it as a shorter log)', async () => {
    const outcomes = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(workloadSteps, damage, async (steps, where) => {
        const outcome = await runMediaDamage(steps, where);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        expect(outcome).not.toBe('accepted');
      }),
      propertySettings(300),
    );
    expect(outcomes.get('refused') ?? 0).toBeGreaterThan(0);
  });

  it('the media-damage property catches a reader that accepts a mid-log CRC failure', async () => {
    const settings = teethSettings(300);
    const result = await fc.check(
      fc.asyncProperty(workloadSteps, damage, async (steps, where) => {
        await runMediaDamage(steps, where, { read: salvagingReader });
      }),
      settings,
    );
    expect(result.failed, `not caught in ${String(settings.numRuns)} runs (seed ${String(settings.seed)})`).toBe(true);
    console.info(`[ckpt] teeth: salvaging reader caught: ${String((result.errorInstance as Error | undefined)?.message)}`);
  });
});
