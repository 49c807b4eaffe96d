/** Every example package in examples/packages/ loads (docs point at them), and the demos run. */
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPackageFile } from './package-file.js';
import type { TaskPlugin } from './task-context.js';
import { runPackage } from './test-support/harness.js';

const EXAMPLES = resolve(import.meta.dirname, '../../../examples/packages');
const copyDouble: TaskPlugin = { kind: 'copy', validate: (spec) => spec, run: async () => undefined };

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('example packages', () => {
  it('every example loads', async () => {
    const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const file of files) await loadPackageFile(join(EXAMPLES, file), { plugins: [copyDouble] });
  });

  it('nightly-load runs end to end with a copy double', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ckpt-example-'));
    await cp(join(EXAMPLES, 'nightly-load.yaml'), join(dir, 'nightly-load.yaml'));
    const pkg = await loadPackageFile(join(dir, 'nightly-load.yaml'), { plugins: [copyDouble] });
    const { result } = await runPackage(pkg, join(dir, 'c.ckpt'), { plugins: [copyDouble] });
    expect(result.outcome).toBe('success');
  });

  it('for-loop fails at batch 3, then resumes there', async () => {
    dir = await mkdtemp(join(tmpdir(), 'ckpt-example-'));
    await cp(join(EXAMPLES, 'for-loop.yaml'), join(dir, 'for-loop.yaml'));
    const pkg = await loadPackageFile(join(dir, 'for-loop.yaml'));
    expect((await runPackage(pkg, join(dir, 'c.ckpt'))).result.outcome).toBe('failure');
    await writeFile(join(dir, 'allow-batch-3'), '');
    const { result, notices } = await runPackage(pkg, join(dir, 'c.ckpt'));
    expect(result.outcome).toBe('success');
    expect(notices.some((n) => n.kind === 'output' && n.line === 'loaded 50 rows')).toBe(true);
  });
});
