import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killAndRerun } from './kill-and-rerun.js';

const script = fileURLToPath(new URL('../test-support/crash-job.mjs', import.meta.url));
const seedFromEnv = process.env['CKPT_SEED'] !== undefined ? Number(process.env['CKPT_SEED']) : undefined;
const UNITS = 8;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-kill-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The effects file: one `{ unit, attempt }` per effect, in order. */
function describeRuns(report: { runs: readonly { run: number; killed: boolean; exitCode: number | null; stdout: readonly string[]; stderr: string }[] }): string {
  const lines = report.runs.map((r) => `run ${r.run}${r.killed ? ' (killed)' : ''} exit ${String(r.exitCode)}: ${r.stdout.join(' ')} ${r.stderr.slice(0, 400)}`);
  return `${lines.join('\n')}\neffects: ${readFileSync(join(dir, 'effects.log'), 'utf8').replace(/\n/g, ', ')}`;
}

function effects(): { unit: string; attempt: number }[] {
  return readFileSync(join(dir, 'effects.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [unit, attempt] = line.split(' ');
      return { unit: unit!, attempt: Number(attempt) };
    });
}

/** Whether `pid` is gone (a zombie awaiting its reaper counts as gone: it runs no code). */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
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
    expect(isGone(pid), `grandchild ${pid} survived the group kill`).toBe(true);
  });
});

describe('killAndRerun on a real process using the core engine', () => {
  it('SIGKILLs the group at completion events; the reruns finish the job, repeating only the unit in flight', async () => {
    const report = await killAndRerun({
      command: process.execPath,
      args: [script, join(dir, 'job.ckpt'), join(dir, 'effects.log'), String(UNITS)],
      killOn: (event) => (event as { type?: string }).type === 'unit-completed',
      kills: 3,
      ...(seedFromEnv !== undefined && { seed: seedFromEnv }),
    });
    const killed = report.runs.filter((r) => r.killed);
    expect(killed.length, `seed ${report.seed}`).toBe(3);
    for (const run of killed) expect(run.signal).toBe('SIGKILL');
    expect(report.final.exitCode).toBe(0);
    expect(report.final.stdout.at(-1)).toContain('"outcome":"success"');
    const done = effects();
    const expected = Array.from({ length: UNITS }, (_, i) => `unit-${i}`);
    // Every unit had its effect, in order; a kill may repeat only the one unit in flight.
    expect([...new Set(done.map((e) => e.unit))], `seed ${report.seed}`).toEqual(expected);
    expect(done.length - UNITS, `seed ${report.seed}\n${describeRuns(report)}`).toBeLessThanOrEqual(killed.length);
    // A unit announced durable in some attempt never ran in a later one.
    for (const run of report.runs) {
      for (const line of run.stdout) {
        const event = JSON.parse(line) as { type: string; unit?: string; attempt: number };
        if (event.type !== 'unit-completed') continue;
        const later = done.filter((e) => e.unit === event.unit && e.attempt > event.attempt);
        expect(later, `${String(event.unit)} announced durable in attempt ${event.attempt}, seed ${report.seed}`).toEqual([]);
      }
    }
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
