/**
 * Issue 12, item 3: a sensitive variable's value never appears in clear in what a run records
 * or reports — error texts, output lines, warnings, results, derived variables — whether it was
 * declared, supplied with `set`, or written to $CKPT_OUTPUT during the run. Structure (unit and
 * step ids) is never rewritten.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { definePackage, task } from '../builder.js';
import { parsePackageText } from '../package-file.js';
import { MASK, MIN_MASKED_LENGTH, SecretMask } from '../secret-mask.js';
import { runPackage, tempDir } from '../test-support/harness.js';

const SECRET = 'hunter2-Secret!';
const LATER = 'from-output-7f3a';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

/** Everything a run leaves behind or reports, as text. */
async function everything(path: string, outcome: { result: unknown; notices: unknown[] }): Promise<string> {
  const bytes = await readFile(path).catch(() => Buffer.alloc(0));
  const error = (outcome.result as { error?: Error }).error;
  return [
    bytes.toString('latin1'),
    JSON.stringify(outcome.notices),
    error?.message ?? '',
    error?.stack ?? '',
    JSON.stringify(outcome.result, (_k, v: unknown) => (v instanceof Map ? [...v] : v)),
  ].join('\n');
}

describe('sensitive values are masked in records and notices', () => {
  it('in stderr, a failing command name, output lines, and the error the run ends with', async () => {
    const pkg = parsePackageText(
      [
        'id: p',
        'version: 1',
        'variables:',
        '  token: { type: string, sensitive: true }',
        'steps:',
        `  - { id: talk, exec: [sh, -c, 'echo "out \${{ vars.token }}"; echo "err \${{ vars.token }}" >&2'] }`,
        `  - { id: fail, exec: [sh, -c, 'echo "bad \${{ vars.token }}" >&2; exit 3'] }`,
      ].join('\n'),
      { file: 'p.yaml', baseDir: dir },
    );
    const path = join(dir, 'p.ckpt');
    const outcome = await runPackage(pkg, path, { set: { token: SECRET } });
    expect(outcome.result.outcome).toBe('failure');
    const all = await everything(path, outcome);
    expect(all).not.toContain(SECRET);
    expect(all).toContain(`err ${MASK}`);
    expect(outcome.result.error?.message).toContain(`its stderr ends with: bad ${MASK}`);
    // Structure is untouched: the failed unit is still "fail".
    expect(outcome.result.state.failed.has('fail')).toBe(true);
  });

  it('a value a step writes to $CKPT_OUTPUT, and a variable derived from it, are masked from then on', async () => {
    const pkg = parsePackageText(
      [
        'id: p',
        'version: 1',
        'variables:',
        '  token: { type: string, sensitive: true }',
        '  url: { type: string }',
        'steps:',
        `  - { id: fetch, exec: [sh, -c, 'echo "token=${LATER}" >> "$CKPT_OUTPUT"'] }`,
        `  - { id: derive, exec: [sh, -c, 'echo "url=https://u:\${{ vars.token }}@host" >> "$CKPT_OUTPUT"'] }`,
        `  - { id: use, exec: ['\${{ vars.token }}'] }`,
      ].join('\n'),
      { file: 'p.yaml', baseDir: dir },
    );
    const path = join(dir, 'p.ckpt');
    const outcome = await runPackage(pkg, path);
    expect(outcome.result.outcome).toBe('failure');
    const all = await everything(path, outcome);
    expect(all).not.toContain(LATER);
    expect(outcome.result.state.variables.get('url')?.value).toBe(`https://u:${MASK}@host`);
    expect(outcome.result.error?.message).toContain(`cannot start "${MASK}"`);
  });

  it('a sealed sensitive value still round-trips: the mask never touches the value the engine seals', async () => {
    const values: unknown[] = [];
    const pkg = definePackage(
      { id: 'p', version: 1, variables: { token: { type: 'string', sensitive: true } } },
      task('set', (ctx) => ctx.setVariable('token', SECRET)),
      task('fail', (ctx) => {
        throw new Error(`leaked ${String(ctx.getVariable('token'))}`);
      }),
    );
    const path = join(dir, 'p.ckpt');
    const first = await runPackage(pkg, path, { secretKey: 'a key for the test' });
    expect(first.result.outcome).toBe('failure');
    expect(await everything(path, first)).not.toContain(SECRET);
    expect(first.result.error?.message).toContain(`leaked ${MASK}`);
    const again = definePackage(
      { id: 'p', version: 1, variables: { token: { type: 'string', sensitive: true } } },
      task('set', (ctx) => ctx.setVariable('token', SECRET)),
      task('fail', (ctx) => void values.push(ctx.getVariable('token'))),
    );
    const second = await runPackage(again, path, { secretKey: 'a key for the test' });
    expect(second.result.outcome).toBe('success');
    expect(values).toEqual([SECRET]);
  });
});

describe('SecretMask', () => {
  it('masks every registered value, longest first, in its line-by-line and JSON-escaped forms', () => {
    const mask = new SecretMask();
    mask.add('abcd');
    mask.add('abcdefgh');
    mask.add('line one\nline "two"');
    expect(mask.text('x abcdefgh y abcd z')).toBe(`x ${MASK} y ${MASK} z`);
    expect(mask.text('stderr: line one | line "two"')).toBe(`stderr: ${MASK} | ${MASK}`);
    expect(mask.text(JSON.stringify('line "two"'))).toBe(`"${MASK}"`);
  });
  it(`leaves values shorter than ${MIN_MASKED_LENGTH} characters alone (a sensitive 1 would mask every exit code)`, () => {
    const mask = new SecretMask();
    mask.add(1);
    mask.add('ab ');
    mask.add(true);
    expect(mask.empty).toBe(false);
    expect(mask.text('exited with code 1; ab true')).toBe(`exited with code 1; ab ${MASK}`);
  });
  it('masks data fields of events, never their structure, and leaves a sensitive value to the sealer', () => {
    const mask = new SecretMask();
    mask.add('step');
    expect(mask.event({ type: 'unit-failed', unit: 'step', scope: 'step@loop', error: { message: 'step failed' } })).toEqual({
      type: 'unit-failed',
      unit: 'step',
      scope: 'step@loop',
      error: { message: `${MASK} failed` },
    });
    expect(mask.event({ type: 'variable-set', name: 'step', value: 'step', sensitive: true })).toEqual({
      type: 'variable-set',
      name: 'step',
      value: 'step',
      sensitive: true,
    });
    expect(mask.event({ type: 'variable-set', name: 'step', value: 'step' })).toEqual({ type: 'variable-set', name: 'step', value: MASK });
    expect(mask.event({ type: 'x/y', unit: 'step', note: 'a step' })).toEqual({ type: 'x/y', unit: MASK, note: `a ${MASK}` });
    const completion = new SecretMask();
    completion.add('completion');
    expect(completion.event({ type: 'unit-completed', unit: 'a', outcome: 'success', result: { result: 'completion' } })).toMatchObject({
      result: { result: 'completion' },
    });
    expect(completion.event({ type: 'unit-completed', unit: 'a', outcome: 'success', result: { note: 'completion' } })).toMatchObject({
      result: { note: MASK },
    });
  });
});
