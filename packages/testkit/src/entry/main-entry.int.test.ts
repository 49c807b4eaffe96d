/**
 * `@ckpt/testkit` must import where vitest is not installed (it is an optional peer): the main
 * entry is imported in a plain `node` process whose module resolution refuses vitest, and the
 * vitest entry, in the same process, is refused (so the refusal is shown to bite).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');

/** A module-resolution hook that makes vitest (and its @vitest/* packages) unresolvable. */
const HOOKS = `export async function resolve(specifier, context, next) {
  if (specifier === 'vitest' || specifier.startsWith('vitest/') || specifier.startsWith('@vitest/')) {
    const error = new Error('Cannot find package ' + JSON.stringify(specifier) + ' (hidden by the test)');
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}`;
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`;

function importWithoutVitest(entry: string): { status: number | null; stdout: string; stderr: string } {
  const url = pathToFileURL(join(dist, entry)).href;
  const script = `const m = await import(${JSON.stringify(url)}); console.log(Object.keys(m).sort().join(','));`;
  const child = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(REGISTER)}`, '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

describe('@ckpt/testkit imports without vitest', () => {
  it('the built main entry imports in a node process where vitest cannot be resolved', () => {
    expect(existsSync(join(dist, 'index.js')), 'build first: npx -y pnpm@10 build').toBe(true);
    const run = importWithoutVitest('index.js');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const names = run.stdout.trim().split(',');
    expect(names).toContain('checkRunnerContract');
    expect(names).toContain('SimulatedStorage');
    expect(names).not.toContain('describeRunnerContract');
  });

  it('the vitest entry, in the same setting, is refused: the hook does hide vitest', () => {
    const run = importWithoutVitest('vitest.js');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('hidden by the test');
  });
});
