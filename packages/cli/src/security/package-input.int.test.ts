/**
 * Issue 12, items 11, 12 and 20 (package part), through the CLI: oversized, deeply nested and
 * alias-bomb package files, `__proto__` names and prototype lookups are refused in one message
 * with exit 2 (no stack trace); a prototype name in a template is "not defined" (issue 16: refused
 * before any step, as every unknown name is).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCkpt } from '../test-support/run-ckpt.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-input-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const ckpt = (args: string[]) => runCkpt(args, { cwd: dir });

const HEAD = 'id: p\nversion: 1\ncheckpoint: { usage: if-exists, save: true, file: p.ckpt }\nsteps:\n  - { id: a, exec: [sh, -c, "touch ran"] }\n';

/** A refusal: exit 2, an `error:` line naming the file, no stack trace, nothing run or written. */
function expectRefusal(result: { code: number | null; stderr: string }, ...patterns: RegExp[]): void {
  expect(result.code).toBe(2);
  expect(result.stderr).toMatch(/^error: /);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr.trim().split('\n').length).toBeLessThanOrEqual(3);
  for (const pattern of patterns) expect(result.stderr).toMatch(pattern);
  expect(existsSync(join(dir, 'ran'))).toBe(false);
  expect(existsSync(join(dir, 'p.ckpt'))).toBe(false);
}

describe('package files that would exhaust the runner', () => {
  it('a YAML alias bomb: one message, exit 2', async () => {
    const levels = ['x0: &x0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++)
      levels.push(
        `x${i}: &x${i} [${Array(9)
          .fill(`*x${i - 1}`)
          .join(',')}]`,
      );
    await writeFile(join(dir, 'bomb.yaml'), `${HEAD}${levels.join('\n')}\n`);
    expectRefusal(await ckpt(['run', 'bomb.yaml']), /bomb\.yaml is not a valid package/, /alias/, /100/);
  });

  it('deep nesting in YAML and JSON: "nested too deeply" with the limit, exit 2', async () => {
    await writeFile(join(dir, 'deep.yaml'), `${HEAD}extra: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`);
    expectRefusal(await ckpt(['run', 'deep.yaml']), /nested too deeply \(more than 64 levels/);
    await writeFile(
      join(dir, 'deep.json'),
      `{"id":"p","version":1,"steps":[{"id":"a","exec":["touch","ran"]}],"x":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}`,
    );
    expectRefusal(await ckpt(['run', 'deep.json']), /deep\.json is not a valid package/, /nested too deeply \(more than 64 levels/);
  });

  it('a 50 MB package file is refused at once, naming the file and the 1 MiB limit', async () => {
    const file = join(dir, 'big.yaml');
    await writeFile(file, HEAD);
    await truncate(file, 50 * 1024 * 1024);
    const result = await ckpt(['run', 'big.yaml']);
    expectRefusal(result, /package file big\.yaml is 52,428,800 bytes; the limit is 1 MiB/);
    expect(result.ms).toBeLessThan(10_000);
  });

  it('an argument over 64 KiB is refused naming the field', async () => {
    await writeFile(join(dir, 'arg.yaml'), `id: p\nversion: 1\nsteps:\n  - { id: a, exec: [sh, -c, "touch ran", "${'y'.repeat(70_000)}"] }\n`);
    expectRefusal(await ckpt(['run', 'arg.yaml']), /steps\[0\]\.exec\[3\]: 70,000 characters; the limit is 65,536/);
  });
});

describe('prototype names', () => {
  it('__proto__ in variables or config of the file, or in --set / --config, is refused (exit 2)', async () => {
    await writeFile(join(dir, 'v.yaml'), `${HEAD}variables:\n  __proto__: { type: string, value: x }\n`);
    expectRefusal(await ckpt(['run', 'v.yaml']), /variables\.__proto__: "__proto__" cannot be a name/);
    await writeFile(join(dir, 'c.yaml'), `${HEAD}config: { __proto__: x }\n`);
    expectRefusal(await ckpt(['run', 'c.yaml']), /config\.__proto__: "__proto__" cannot be a name/);
    await writeFile(join(dir, 'p.yaml'), HEAD);
    expectRefusal(await ckpt(['run', 'p.yaml', '--set', '__proto__=x']), /--set __proto__=\.\.\.: "__proto__" cannot be a name/);
    expectRefusal(await ckpt(['run', 'p.yaml', '--config', '__proto__=x']), /--config __proto__=\.\.\.: "__proto__" cannot be a name/);
  });

  it('${{ config.constructor }} is "not defined": refused before any step (exit 2), its command never runs', async () => {
    await writeFile(
      join(dir, 'p.yaml'),
      'id: p\nversion: 1\nconfig: { real: 1 }\nsteps:\n  - { id: a, exec: [sh, -c, "echo ${{ config.constructor }} > ran"] }\n',
    );
    const result = await ckpt(['run', 'p.yaml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('config.constructor is not defined');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });
});
