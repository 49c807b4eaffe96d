/**
 * Issue 12, item 3, through the CLI: a sensitive variable's value — supplied with --set, or
 * written to $CKPT_OUTPUT during the run — appears in none of the checkpoint file's bytes,
 * `ckpt inspect` (human and --json), `ckpt events` (human and --json), `ckpt run --json` stdout,
 * or the human view's stdout and stderr. CI systems mask secrets the same way (`***`).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCkpt } from '../test-support/run-ckpt.js';

const SECRET = 'tok-5ecret-9q8w';
const FROM_OUTPUT = 'out-5ecret-3e4r';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-mask-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const ckpt = (args: string[], env: NodeJS.ProcessEnv = {}) => runCkpt(args, { cwd: dir, env: { CKPT_SECRET_KEY: '', ...env } });

const PACKAGE = [
  'id: masked',
  'version: 1',
  'checkpoint: { usage: if-exists, save: true, file: masked.ckpt }',
  'variables:',
  '  token: { type: string, sensitive: true }',
  '  other: { type: string, sensitive: true }',
  '  url: { type: string }',
  'steps:',
  `  - { id: fetch, exec: [sh, -c, 'echo "other=${FROM_OUTPUT}" >> "$CKPT_OUTPUT"'] }`,
  `  - { id: derive, exec: [sh, -c, 'echo "url=https://u:\${{ vars.other }}@host" >> "$CKPT_OUTPUT"'] }`,
  `  - { id: talk, exec: [sh, -c, 'echo "stdout \${{ vars.token }} \${{ vars.other }}"; echo "stderr \${{ vars.other }}" >&2'] }`,
  `  - { id: fail, exec: [sh, -c, 'echo "denied for \${{ vars.token }}" >&2; exit 3'], after: { talk: success } }`,
  `  - { id: bad-arg, exec: ['\${{ vars.other }}', x], after: { talk: success } }`,
].join('\n');

async function everyView(checkpoint: string): Promise<string> {
  const views = await Promise.all([
    ckpt(['inspect', checkpoint]),
    ckpt(['inspect', checkpoint, '--json']),
    ckpt(['events', checkpoint]),
    ckpt(['events', checkpoint, '--json']),
  ]);
  for (const view of views) expect(view.code).toBe(0);
  return views.map((v) => v.stdout + v.stderr).join('\n');
}

describe('sensitive values through the CLI', () => {
  it('ckpt run (human view), the checkpoint, inspect and events never show them', async () => {
    await writeFile(join(dir, 'p.yaml'), PACKAGE);
    const run = await ckpt(['run', 'p.yaml', '--set', `token=${SECRET}`]);
    expect(run.code).toBe(1);
    const printed = run.stdout + run.stderr;
    expect(printed).toContain('denied for ***');
    expect(printed).toContain('cannot start "***"');
    expect(printed).toContain('stdout *** ***');
    const bytes = await readFile(join(dir, 'masked.ckpt'));
    const views = await everyView('masked.ckpt');
    expect(views).toContain('unit-failed');
    expect(views).toContain('https://u:***@host');
    for (const secret of [SECRET, FROM_OUTPUT]) {
      expect(printed).not.toContain(secret);
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
      expect(views).not.toContain(secret);
    }
  });

  it('ckpt run --json stdout never shows them', async () => {
    await writeFile(join(dir, 'p.yaml'), PACKAGE);
    const run = await ckpt(['run', 'p.yaml', '--json', '--set', `token=${SECRET}`]);
    expect(run.code).toBe(1);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string });
    expect(lines.some((l) => l.type === 'unit-failed')).toBe(true);
    expect(lines.at(-1)).toMatchObject({ type: 'run-ended', exitCode: 1 });
    for (const secret of [SECRET, FROM_OUTPUT]) expect(run.stdout + run.stderr).not.toContain(secret);
  });

  it('with a secret key the values are sealed, a rerun still masks them, and a wrong --set type is refused without echoing it', async () => {
    await writeFile(
      join(dir, 'p.yaml'),
      PACKAGE.replace('  url: { type: string }', '  url: { type: string }\n  pin: { type: int, sensitive: true }'),
    );
    const env = { CKPT_SECRET_KEY: 'key for the masking test' };
    const first = await ckpt(['run', 'p.yaml', '--set', `token=${SECRET}`], env);
    expect(first.code).toBe(1);
    const second = await ckpt(['run', 'p.yaml'], env);
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(/resuming masked/);
    expect(second.stdout + second.stderr).toContain('denied for ***');
    const bytes = await readFile(join(dir, 'masked.ckpt'));
    const views = await everyView('masked.ckpt');
    for (const secret of [SECRET, FROM_OUTPUT]) {
      expect(first.stdout + first.stderr + second.stdout + second.stderr).not.toContain(secret);
      expect(bytes.includes(Buffer.from(secret))).toBe(false);
      expect(views).not.toContain(secret);
    }
    const refused = await ckpt(['run', 'p.yaml', '--set', `pin=${SECRET}`], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('variable "pin" is an int; the value given is not an integer');
    expect(refused.stdout + refused.stderr).not.toContain(SECRET);
  });
});
