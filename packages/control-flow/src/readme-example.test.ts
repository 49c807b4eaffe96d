/** The README's builder example, run as written (in a temporary folder). */
import { join } from 'node:path';
import { Engine } from '@ckpt/core';
import { afterEach, expect, it } from 'vitest';
import { ControlFlowRunner, definePackage, exec, forEach, task } from './index.js';
import { tempDir } from './test-support/harness.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => cleanup?.());

it('the README example runs', async () => {
  const t = await tempDir();
  cleanup = t.cleanup;
  // --- README (checkpoint path adjusted to the temporary folder) ---
  const pkg = definePackage(
    { id: 'nightly', version: 1, variables: { rows: { type: 'int', value: 0 } } },
    task('extract', async (ctx) => ctx.setVariable('rows', 1200)),
    forEach('per-region', { items: ['eu', 'us'], as: 'region' }, [exec('load', ['sh', '-c', 'echo ${{ vars.region }}'])], {
      checkpointIterations: true,
    }),
  );
  const result = await new Engine().run(
    new ControlFlowRunner(),
    { package: pkg },
    { checkpoint: { path: join(t.dir, 'nightly.ckpt'), usage: 'if-exists', save: true } },
  );
  // ---
  expect(result.outcome).toBe('success');
  expect(result.state.variables.get('rows')?.value).toBe(1200);
});
