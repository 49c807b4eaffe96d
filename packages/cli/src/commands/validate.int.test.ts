/**
 * Issue 16, "Packages", through the CLI: `ckpt validate` (dtexec /Validate) checks a package
 * without running it; `ckpt run` refuses the same unknown names before any step, and unknown
 * `--set` / `--config` names; an explicit `--usage` wins over `--checkpointing on`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCkpt } from '../test-support/run-ckpt.js';

const EXAMPLES = resolve(import.meta.dirname, '../../../../examples/packages');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-validate-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const ckpt = (args: string[]) => runCkpt(args, { cwd: dir });

/** Names misspelt in a template, a config key, a loop variable read after its loop, a step reference. */
const TYPOS = `id: typos
version: 1
checkpoint: { file: typos.ckpt, usage: if-exists, save: true }
variables:
  count: { type: int, value: 0 }
config:
  outDir: out
steps:
  - { id: first, exec: [sh, -c, 'touch ran'] }
  - id: report
    exec: [sh, -c, 'echo \${{ vars.cuont }} > \${{ config.outdir }}/n']
  - id: each
    forEach: { items: [eu, us], as: region }
    steps: [{ id: load, exec: [echo, '\${{ vars.region }}'] }]
  - id: late
    after: [{ eahc: success, when: "vars.region == 'eu'" }]
    exec: ["true"]
`;

describe('ckpt validate', () => {
  it('every example package validates (exit 0), as shipped', async () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const file of files) {
      const result = await ckpt(['validate', join(EXAMPLES, file)]);
      expect({ file, code: result.code, stderr: result.stderr }).toEqual({ file, code: 0, stderr: '' });
      expect(result.stdout).toMatch(/: valid \(package [\w-]+ version \d+, \d+ steps\)/);
    }
  });

  it('lists every problem with file:line:column, field, step and the closest name; exit 2; runs nothing', async () => {
    await writeFile(join(dir, 'typos.yaml'), TYPOS);
    const result = await ckpt(['validate', 'typos.yaml']);
    expect(result.code).toBe(2);
    expect(result.stdout.trim().split('\n')).toEqual([
      '✗ typos.yaml: not a valid package, 4 problems',
      '  typos.yaml:11:20: steps[1].exec[2] (step report): vars.cuont is not defined; did you mean vars.count?',
      '  typos.yaml:11:20: steps[1].exec[2] (step report): config.outdir is not defined; did you mean config.outDir?',
      '  typos.yaml:16:12: steps[3].after.eahc (step late): no step has id "eahc"; did you mean each?',
      '  typos.yaml:16:36: steps[3].after[0].when (step late): vars.region is defined only inside the forEach loop "each"',
    ]);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(existsSync(join(dir, 'typos.ckpt'))).toBe(false);
  });

  it('--json prints one object with the problems', async () => {
    await writeFile(join(dir, 'typos.yaml'), TYPOS);
    const result = await ckpt(['validate', 'typos.yaml', '--json']);
    expect(result.code).toBe(2);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]!) as {
      valid: boolean;
      file: string;
      problems: { path: string; step: string; line: number; column: number; message: string; suggestion?: string }[];
    };
    expect(report.valid).toBe(false);
    expect(report.file).toBe('typos.yaml');
    expect(report.problems).toContainEqual({
      path: 'steps[1].exec[2]',
      step: 'report',
      line: 11,
      column: 20,
      message: 'vars.cuont is not defined; did you mean vars.count?',
      suggestion: 'count',
    });
    expect(report.problems.map((p) => p.path)).toEqual(['steps[1].exec[2]', 'steps[1].exec[2]', 'steps[3].after.eahc', 'steps[3].after[0].when']);

    await writeFile(join(dir, 'ok.yaml'), 'id: ok\nversion: 2\nsteps:\n  - { id: a, exec: ["true"] }\n');
    const ok = await ckpt(['validate', 'ok.yaml', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({
      type: 'validation',
      file: 'ok.yaml',
      valid: true,
      package: { id: 'ok', version: '2', steps: 1 },
      problems: [],
      exitCode: 0,
    });
  });

  it('a file that cannot be read is one problem, exit 2, without a stack trace', async () => {
    const result = await ckpt(['validate', 'missing.yaml']);
    expect(result.code).toBe(2);
    expect(result.stdout).toContain('missing.yaml: cannot read package file missing.yaml (ENOENT)');
    expect(result.stdout + result.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('ckpt run refuses what validate reports', () => {
  it('an unknown name in a template: exit 2 before any step, nothing on disk', async () => {
    await writeFile(join(dir, 'typos.yaml'), TYPOS);
    const result = await ckpt(['run', 'typos.yaml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^error: typos\.yaml is not a valid package/);
    expect(result.stderr).toContain('steps[1].exec[2]: vars.cuont is not defined; did you mean vars.count?');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(existsSync(join(dir, 'typos.ckpt'))).toBe(false);
  });

  it('an unknown --set variable or --config key: exit 2 naming the closest name, the value never quoted', async () => {
    await writeFile(
      join(dir, 'p.yaml'),
      'id: p\nversion: 1\ncheckpoint: { file: p.ckpt, usage: if-exists, save: true }\nvariables:\n  count: { type: int, value: 0 }\nconfig:\n  outDir: out\nsteps:\n  - { id: a, exec: [sh, -c, "touch ran"] }\n',
    );
    const config = await ckpt(['run', 'p.yaml', '--config', 'outdir=x']);
    expect(config.code).toBe(2);
    expect(config.stderr).toMatch(/^error: unknown config key outdir \(--config outdir=\.\.\.\); did you mean outDir\?/);
    const set = await ckpt(['run', 'p.yaml', '--set', 'cuont=s3cr3t-value']);
    expect(set.code).toBe(2);
    expect(set.stderr).toMatch(/^error: unknown variable cuont \(--set cuont=\.\.\.\); did you mean count\?/);
    expect(set.stderr).not.toContain('s3cr3t-value');
    const far = await ckpt(['run', 'p.yaml', '--set', 'zzz=1']);
    expect(far.code).toBe(2);
    expect(far.stderr).toContain('the variables of p.yaml are count');
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(existsSync(join(dir, 'p.ckpt'))).toBe(false);
    // Known names still reach the package.
    const ok = await ckpt(['run', 'p.yaml', '--set', 'count=3', '--config', 'outDir=x']);
    expect(ok.code).toBe(0);
  });
});

describe('--checkpointing on with an explicit --usage', () => {
  it('--usage wins: a first run (no checkpoint) runs, as the --help example does', async () => {
    await writeFile(
      join(dir, 'p.yaml'),
      'id: p\nversion: 1\nsteps:\n  - { id: extract, exec: [sh, -c, "touch ran"] }\n  - { id: b, exec: ["true"] }\n',
    );
    const first = await ckpt(['run', 'p.yaml', '--checkpointing', 'on', '--usage', 'if-exists', '--force-result', 'extract=failure', '--json']);
    expect(first.code).toBe(1);
    expect(first.stdout).toContain('"usage":"if-exists","save":true');
    expect(existsSync(join(dir, 'ran'))).toBe(true);
    // Saved (--checkpointing on): the rerun resumes at the failed step.
    const rerun = await ckpt(['run', 'p.yaml', '--checkpointing', 'on', '--usage', 'if-exists', '--json']);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain('"resumed":true');
    // Without --usage, --checkpointing on still means usage always: no checkpoint, refused.
    const always = await ckpt(['run', 'p.yaml', '--checkpointing', 'on']);
    expect(always.code).toBe(2);
  });

  it('the run --help example uses that combination', async () => {
    const help = await ckpt(['run', '--help']);
    expect(help.stdout).toContain('ckpt run nightly.yaml --checkpointing on --usage if-exists');
  });
});
