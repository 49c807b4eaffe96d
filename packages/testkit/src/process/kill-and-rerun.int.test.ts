import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killAndRerun, type KillAndRerunReport } from './kill-and-rerun.js';
import { processGone } from './process-gone.js';

const script = fileURLToPath(new URL('../test-support/crash-job.mjs', import.meta.url));
const seedFromEnv = process.env['CKPT_SEED'] !== undefined ? Number(process.env['CKPT_SEED']) : undefined;
const SEED_COUNT = Number(process.env['CKPT_SEED_COUNT'] ?? '1');
const KILLS = 3;
const KILL_AT_MOST_AFTER = 3;
/** More than KILLS × KILL_AT_MOST_AFTER (see killAtCompletions). */
const UNITS = 12;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-kill-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Each run (its kill plan, what it printed) and the effects file, for a failure message. */
function describeRuns(report: KillAndRerunReport): string {
  const lines = report.runs.map(
    (r) =>
      `run ${r.run}${r.killed ? ' (killed)' : ''} at ${JSON.stringify(r.killAt ?? null)} after ${r.matched} matches, exit ${String(r.exitCode)}: ${r.stdout.join(' ')} ${r.stderr.slice(0, 400)}`,
  );
  return `${lines.join('\n')}\neffects: ${readFileSync(join(dir, 'effects.log'), 'utf8').replace(/\n/g, ', ')}`;
}

/** The effects file: one `{ unit, attempt }` per effect, in order. */
function effects(): { unit: string; attempt: number }[] {
  return readFileSync(join(dir, 'effects.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [unit, attempt] = line.split(' ');
      return { unit: unit!, attempt: Number(attempt) };
    });
}

describe('killAndRerun', () => {
  it('kills the whole process group, grandchildren included, then reruns until exit 0', async () => {
    const spawning = fileURLToPath(new URL('../test-support/spawning-job.mjs', import.meta.url));
    const report = await killAndRerun({
      command: process.execPath,
      args: [spawning, join(dir, 'marker')],
      killOn: (event) => (event as { type?: string }).type === 'grandchild',
      killAtMostAfter: 1,
      kills: 1,
      seed: 1,
      log: () => undefined,
    });
    expect(report.runs.map((r) => [r.killed, r.signal, r.exitCode])).toEqual([
      [true, 'SIGKILL', null],
      [false, null, 0],
    ]);
    const { pid } = JSON.parse(report.runs[0]!.stdout[0]!) as { pid: number };
    expect(processGone(pid), `grandchild ${pid} survived the group kill`).toBe(true);
  });
});

describe('killAndRerun on a real process using the core engine', () => {
  /**
   * Kills at the nth `unit-completed` line, n drawn per run in 1..KILL_AT_MOST_AFTER. Two ways
   * a planned kill used not to happen, so the test saw fewer kills than planned:
   * - the job had fewer units than the killed runs use up (KILLS × KILL_AT_MOST_AFTER = 9):
   *   with 8 units, seed 666138285 drew 3, 3, 3 and its third run finished with 2 units left,
   *   never reaching its 3rd completion (1 seed in 27);
   * - the job ran on while the harness read the nth line; a busy machine let it finish all its
   *   units before the kill landed (seen with 16 units, seed 1020).
   * Now the job has more units than the plan uses, and runs in lockstep with the harness: after
   * each announcement it waits for the harness's go-ahead, so the kill lands exactly there.
   */
  async function killAtCompletions(seed: number | undefined) {
    const report = await killAndRerun({
      command: process.execPath,
      args: [script, join(dir, 'job.ckpt'), join(dir, 'effects.log'), String(UNITS), 'lockstep'],
      killOn: (event) => (event as { type?: string }).type === 'unit-completed',
      lockstep: true,
      killAtMostAfter: KILL_AT_MOST_AFTER,
      kills: KILLS,
      ...(seed !== undefined && { seed }),
      ...(seed !== undefined && { log: () => undefined }),
    });
    const why = () => `seed ${report.seed}\n${describeRuns(report)}`;
    // The harness kept its plan: each of the first KILLS runs was killed right at its drawn event.
    for (const run of report.runs.slice(0, KILLS)) {
      const at = (run.killAt as { afterEvents: number } | undefined)?.afterEvents;
      expect(at, why()).toBeGreaterThanOrEqual(1);
      expect(at, why()).toBeLessThanOrEqual(KILL_AT_MOST_AFTER);
      expect([run.killed, run.signal], `run ${run.run} should be killed at its completion event ${String(at)}: ${why()}`).toEqual([true, 'SIGKILL']);
      expect(run.matched, why()).toBe(at);
    }
    const killed = report.runs.filter((r) => r.killed);
    expect(killed.length, why()).toBe(KILLS);
    expect(report.final.exitCode).toBe(0);
    expect(report.final.stdout.at(-1)).toContain('"outcome":"success"');
    const done = effects();
    const expected = Array.from({ length: UNITS }, (_, i) => `unit-${i}`);
    // Every unit had its effect, in order, once: each kill landed after a completion was durable
    // and before the next unit began, so nothing was in flight and nothing repeats.
    expect(
      done.map((e) => e.unit),
      why(),
    ).toEqual(expected);
    // A unit announced durable in some attempt never ran in a later one.
    for (const run of report.runs) {
      for (const line of run.stdout) {
        const event = JSON.parse(line) as { type: string; unit?: string; attempt: number };
        if (event.type !== 'unit-completed') continue;
        const later = done.filter((e) => e.unit === event.unit && e.attempt > event.attempt);
        expect(later, `${String(event.unit)} announced durable in attempt ${event.attempt}, seed ${report.seed}`).toEqual([]);
      }
    }
    return report;
  }

  // CKPT_SEED replays one seed; CKPT_SEED_COUNT=N runs N seeds from it (CKPT_SEED, +1, ...) in one go.
  it('SIGKILLs the group right after durable completion events; the reruns finish the job and repeat nothing', {
    timeout: Math.max(60_000, SEED_COUNT * 30_000),
  }, async () => {
    if (seedFromEnv === undefined || SEED_COUNT === 1) {
      await killAtCompletions(seedFromEnv);
      return;
    }
    const started = Date.now();
    for (let i = 0; i < SEED_COUNT; i++) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      await killAtCompletions(seedFromEnv + i);
    }
    console.info(`[ckpt] ${SEED_COUNT} seeds from ${seedFromEnv} held in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  it('regression: seed 666138285 draws kill points 3, 3, 3 (more than the 8 units the job once had) and gets all three kills', async () => {
    const report = await killAtCompletions(666138285);
    expect(report.runs.slice(0, KILLS).map((r) => r.killAt)).toEqual([{ afterEvents: 3 }, { afterEvents: 3 }, { afterEvents: 3 }]);
  });

  it('SIGKILLs at random moments and still ends with every unit done once or, if in flight, twice', async () => {
    const report = await killAndRerun({
      command: process.execPath,
      args: [script, join(dir, 'job.ckpt'), join(dir, 'effects.log'), String(UNITS)],
      randomKillMs: 400,
      kills: 3,
      ...(seedFromEnv !== undefined && { seed: seedFromEnv }),
    });
    expect(report.final.exitCode, `seed ${report.seed}`).toBe(0);
    const done = effects();
    expect([...new Set(done.map((e) => e.unit))], `seed ${report.seed}`).toEqual(Array.from({ length: UNITS }, (_, i) => `unit-${i}`));
    expect(done.length - UNITS, `seed ${report.seed}\n${describeRuns(report)}`).toBeLessThanOrEqual(report.runs.filter((r) => r.killed).length);
  });
});
