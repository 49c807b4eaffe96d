/**
 * A dozen `ckpt run --store postgres://…` processes at once on one database, each its own job
 * (a file of its own, so that it runs beside cli.int.test.ts).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCkpt } from '../../cli/src/test-support/run-ckpt.js';
import { PG_SKIP_NOTE, pgBinaries, pgSkipped } from './test-support/pg-cluster.js';
import { useCluster } from '@ckpt/testkit/vitest';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-pg-dozen-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writePackage(id: string, steps: number): void {
  const lines = [`id: ${id}`, 'version: 1', 'checkpoint: { usage: if-exists, save: true }', 'steps:'];
  for (let i = 1; i <= steps; i++) lines.push(`  - { id: s${i}, exec: [sh, -c, 'echo "start ${i}" >> ${id}.log; sleep 0.05'] }`);
  writeFileSync(join(dir, `${id}.yaml`), `${lines.join('\n')}\n`);
}

const startsOf = (id: string): number[] =>
  existsSync(join(dir, `${id}.log`))
    ? readFileSync(join(dir, `${id}.log`), 'utf8')
        .trim()
        .split('\n')
        .map((line) => Number(line.split(' ')[1]))
    : [];

describe.skipIf(pgSkipped)(`ckpt run --store postgres://…, many jobs at once${pgSkipped ? ` [skipped: ${PG_SKIP_NOTE}]` : ''}`, () => {
  const pgc = useCluster();

  it('a dozen jobs at once on one database each run to their end, and leave no checkpoint behind', async () => {
    expect(pgBinaries, PG_SKIP_NOTE).toBeDefined();
    const url = pgc.url('dozen');
    for (let i = 0; i < 12; i++) writePackage(`job${i}`, 2);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => runCkpt(['run', `job${i}.yaml`, '--store', url], { cwd: dir, timeoutMs: 60_000 })),
    );
    for (const [i, result] of results.entries()) {
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(startsOf(`job${i}`)).toEqual([1, 2]);
    }
    const list = await runCkpt(['list', '--store', url], { cwd: dir });
    expect(list.stdout).toContain('no checkpoints');
  });
});
