import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('the demo runs end to end: killed mid-transfer, failed mid-load, resumed both times, cleaned up', () => {
  const demo = fileURLToPath(new URL('./demo.mjs', import.meta.url));
  const result = spawnSync(process.execPath, [demo], {
    encoding: 'utf8',
    env: { ...process.env, DEMO_SIZE_MIB: '24', NO_COLOR: '1' },
    timeout: 120_000,
  });
  expect(result.status, result.stdout + result.stderr).toBe(0);
  expect(result.stdout).toContain('✕ kill -9');
  expect(result.stdout).toMatch(/resuming at [\d.]+ MiB of 24(\.0)? MiB, verified/);
  expect(result.stdout).toContain('↷ generate  skipped: the checkpoint has it');
  expect(result.stdout).toContain('↷ load[0]  skipped: the checkpoint has it');
  expect(result.stdout).toMatch(/tasks: 7 run again instead of 12/);
  expect(result.stdout).toContain('the checkpoint was deleted when the package succeeded: yes');
  const work = /working in (\S+)/.exec(result.stdout)?.[1];
  expect(work).toBeDefined();
  expect(spawnSync('test', ['-e', work!]).status).not.toBe(0);
});
