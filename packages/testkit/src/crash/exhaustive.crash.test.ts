import { describe, expect, it } from 'vitest';
import { CI_WORKLOADS, SOAK_WORKLOADS, exploreCrashStates } from './exhaustive.js';
import { soakFactor } from './property-settings.js';

const soak = soakFactor() > 1;

describe('exhaustive crash states of small journal workloads', () => {
  it(
    `explores every crash point × torn length × kept/dropped choice${soak ? ' (soak: larger workloads, recovery crashed too)' : ''}`,
    async () => {
      let states = 0;
      let elapsed = 0;
      for (const workload of soak ? SOAK_WORKLOADS : CI_WORKLOADS) {
        const report = await exploreCrashStates(workload, { crashRecovery: soak });
        console.info(
          `[ckpt] exhaustive "${workload.name}": ${report.crashPoints} crash points, ${report.states} crash states, ${Math.round(report.elapsedMs)} ms`,
        );
        expect(report.failures).toEqual([]);
        states += report.states;
        elapsed += report.elapsedMs;
      }
      console.info(`[ckpt] exhaustive total: ${states} crash states explored in ${Math.round(elapsed)} ms`);
      expect(states).toBeGreaterThanOrEqual(10_000);
    },
    soak ? 24 * 60 * 60 * 1000 : 120_000,
  );
});
