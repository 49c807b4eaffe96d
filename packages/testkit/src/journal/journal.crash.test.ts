import { Fold, Journal, StorageIoError, createIdentity } from '@ckpt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { journalScenarioArbitrary } from '../crash/crash-arbitraries.js';
import { propertySettings } from '../crash/property-settings.js';
import {
  CrashPropertyViolation,
  SCENARIO_PATH,
  emptyScenarioDisk,
  runJournalScenario,
  runSessionOnDisk,
  scenarioEvent,
  type JournalScenario,
} from './journal-scenario.js';

describe('Journal under simulated power loss', () => {
  it('recovers a prefix holding every acknowledged event, across crashes in writes, recovery and compaction, with injected I/O errors', async () => {
    let crashes = 0;
    let appended = 0;
    const phases: Record<string, number> = {};
    const settings = propertySettings<[JournalScenario]>(500);
    console.info(`[ckpt] journal crash property: seed ${String(settings.seed)}, ${String(settings.numRuns)} runs`);
    await fc.assert(
      fc.asyncProperty(journalScenarioArbitrary(), async (scenario) => {
        const report = await runJournalScenario(scenario);
        crashes += report.crashes;
        appended += report.appended;
        for (const [phase, n] of Object.entries(report.phases)) phases[phase] = (phases[phase] ?? 0) + n;
      }),
      settings,
    );
    console.info(`[ckpt] ${crashes} crashes simulated, ${appended} events appended; crashes struck in ${JSON.stringify(phases)}`);
    // The property is only as good as where its crashes land: every phase must be hit.
    for (const phase of ['create', 'recovery', 'compaction', 'writing', 'after-steps']) {
      expect(phases[phase] ?? 0, `crashes during ${phase}`).toBeGreaterThan(0);
    }
  });

  it('replays exactly from its seed: the same scenario makes the same operations and acknowledgements', async () => {
    const scenarios = fc.sample(journalScenarioArbitrary(), { numRuns: 30, seed: 20_261_129 });
    for (const scenario of scenarios) {
      const session = scenario.sessions[0]!;
      const runs = await Promise.all([0, 1].map(async () => {
        const crashed = await runSessionOnDisk(await emptyScenarioDisk(), session, scenario.compaction, [], 0);
        return {
          // Temporary names are random in core (see docs/testing.md); everything else must match.
          operations: crashed.storage.operations.map((o) => [o.kind, o.position, o.length, o.error]),
          appended: crashed.history.length,
          acknowledged: crashed.acknowledged,
          unsynced: crashed.storage.unsyncedWrites().map((w) => [w.operationIndex, w.position, w.length]),
        };
      }));
      expect(runs[1]).toEqual(runs[0]);
    }
  });

  it('recovers the same state when recovery itself is crashed at every operation', async () => {
    // A first session writes, then every later session is only a recovery crashed at op k.
    const base: JournalScenario['sessions'][number] = {
      steps: [
        { kind: 'append', events: 2, durability: 'durable', wait: true },
        { kind: 'append', events: 1, durability: 'buffered', wait: false },
        { kind: 'append', events: 3, durability: 'durable', wait: false },
      ],
      crashAt: 1_000,
      plan: { writes: [{ kind: 'torn', keep: 17 }] },
    };
    for (let k = 0; k < 30; k++) {
      const recovery = { steps: [], crashAt: k, plan: { writes: [{ kind: 'torn' as const, keep: 5 }], directories: [1] } };
      const report = await runJournalScenario({ compaction: false, sessions: [base, recovery, recovery] });
      expect(report.recovered).toBeGreaterThanOrEqual(2);
    }
  });

  // KNOWN CORE BUG, pinned (docs/testing.md, "Known core issues"). Journal.compactNow takes
  // `this.nextSeq++` before writeReplacing; when that throws (here ENOSPC creating the
  // temporary file) an explicit compact() rejects but the journal is not failed, so the next
  // record is written with a sequence hole. Its durable append is acknowledged, and recovery
  // then stops at the hole and truncates it as a torn tail. When core is fixed (fail the
  // journal, or take the sequence number only once the new file is in place) this test fails:
  // turn it into `resolves` and keep it as a regression test.
  it('catches core bug: an acknowledged append after a failed explicit compaction is lost', async () => {
    const scenario: JournalScenario = {
      compaction: false,
      sessions: [
        {
          steps: [
            { kind: 'append', events: 1, durability: 'durable', wait: true },
            { kind: 'compact' },
            { kind: 'append', events: 2, durability: 'durable', wait: true },
          ],
          crashAt: 1_000,
          plan: {},
          faults: [{ kind: 'open', nth: 2, code: 'ENOSPC' }],
        },
      ],
    };
    await expect(runJournalScenario(scenario, { afterFailedCompaction: 'continue' })).rejects.toThrow(
      new CrashPropertyViolation('session 1, after its crash: acknowledged-but-lost: 3 event(s) were acknowledged durable, only 1 recovered'),
    );
    // The same run passes when the writer stops using the journal after the failed compaction.
    await expect(runJournalScenario(scenario)).resolves.toMatchObject({ recovered: 1 });
  });

  // KNOWN CORE BUG, pinned: after the same failed compaction, a sync() with nothing appended
  // since waits for the snapshot's sequence number, which is never written; flushLoop finds
  // nothing to do, and kick()'s `finally` re-kicks because a waiter remains: a microtask
  // livelock that starves the event loop. The test counts flush-loop turns through the
  // journal's internals and breaks the loop after 10,000 (no timer is involved). When core is
  // fixed, sync() settles at once and this test fails: invert it into a regression test.
  it('catches core bug: sync() after a failed explicit compaction spins forever', async () => {
    const storage = (await emptyScenarioDisk()).crash({}, { faults: [{ kind: 'open', nth: 2, code: 'ENOSPC' }] });
    const identity = createIdentity({ kind: 'testkit', id: 'livelock', version: 1, structure: {} });
    const journal = await Journal.create(SCENARIO_PATH, identity, { storage, fold: new Fold(), compaction: false });
    await journal.append([scenarioEvent(0)]);
    await expect(journal.compact()).rejects.toBeInstanceOf(StorageIoError);
    const internals = journal as unknown as { flushLoop: () => Promise<void>; fail: (error: Error) => void };
    const flushLoop = internals.flushLoop.bind(journal);
    let turns = 0;
    internals.flushLoop = () => {
      if (++turns === 10_000) internals.fail(new StorageIoError(SCENARIO_PATH, 'the test breaking a livelock'));
      return flushLoop();
    };
    await expect(journal.sync()).rejects.toThrow('the test breaking a livelock');
    expect(turns).toBe(10_000);
  });
});
