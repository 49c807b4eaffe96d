import { describe, expect, it } from 'vitest';
import { definePackage, task } from './builder.js';
import { PackageDefinitionError } from './errors.js';
import { parsePackageText } from './package-file.js';
import { structureOf } from './runner.js';

const load = (text: string) => parsePackageText(text, { file: 'nightly.yaml', baseDir: '/tmp' });
const problemsOf = (text: string): string[] => {
  try {
    load(text);
  } catch (error) {
    expect(error).toBeInstanceOf(PackageDefinitionError);
    expect((error as Error).message).toContain('nightly.yaml');
    return [...(error as PackageDefinitionError).problems];
  }
  throw new Error('expected the package to be refused');
};

describe('package file schema', () => {
  it('loads the contract example shape', () => {
    const pkg = load(`
id: nightly-load
version: 3
checkpoint: { file: .ckpt/nightly-load.ckpt, usage: if-exists, save: true, retention: 30d }
variables:
  day:   { type: string, value: "2026-11-23" }
  rows:  { type: int, value: 0 }
  token: { type: string, value: "", sensitive: true }
  conn:  { type: object }
config: { outDir: ./out }
steps:
  - id: extract
    exec: [sh, -c, "make-orders > \${{ config.outDir }}/orders.csv"]
    failPackageOnFailure: true
  - id: per-region
    forEach: { items: [eu, us, apac], as: region }
    checkpointIterations: true
    steps:
      - id: load-region
        exec: [sh, -c, "load \${{ vars.region }}"]
  - id: publish
    transaction: required
    rollback: [sh, -c, "undo-publish"]
    steps:
      - { id: swap, exec: [sh, -c, "swap-tables"] }
  - id: alert
    after: { publish: failure }
    exec: [sh, -c, "notify"]
`);
    expect(pkg.id).toBe('nightly-load');
    expect(pkg.version).toBe('3');
    expect(pkg.checkpoint).toEqual({ file: '.ckpt/nightly-load.ckpt', usage: 'if-exists', save: true, retentionMs: 30 * 86_400_000 });
    expect([...pkg.stepsById.keys()]).toEqual(['extract', 'load-region', 'per-region', 'swap', 'publish', 'alert']);
  });

  it('schema errors name the file, the path and what is expected', () => {
    const problems = problemsOf(`
id: p
version: 1
steps:
  - { id: a, exec: [echo] }
  - { id: b, exec: [echo] }
  - id: c
    forEach: { items: eu }
    steps: [{ id: d, exec: [echo] }]
`);
    expect(problems.join('\n')).toMatch(/steps\[2\]\.forEach\.items: .*expected array/);
  });

  it('unknown fields are refused with their path', () => {
    expect(problemsOf('id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo], retries: 3 }\n').join('\n')).toMatch(/steps\[0\].*retries/);
  });

  it('a step must be exactly one kind', () => {
    expect(problemsOf('id: p\nversion: 1\nsteps:\n  - { id: a }\n')[0]).toMatch(/steps\[0\]: step "a" needs exactly one of exec, copy or steps/);
    expect(problemsOf('id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo], steps: [{ id: b, exec: [echo] }] }\n')[0]).toMatch(/has exec and steps/);
  });

  it('duplicate step ids are refused with both paths', () => {
    const problems = problemsOf('id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo] }\n  - id: s\n    steps: [{ id: a, exec: [echo] }]\n');
    expect(problems).toContain('steps[1].steps[0].id: duplicate step id "a" (also at steps[0]); step ids must be unique in the package');
  });

  it('unknown steps in precedence constraints are refused with the path', () => {
    expect(problemsOf('id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo] }\n  - { id: b, exec: [echo], after: { nope: success } }\n')).toEqual([
      'steps[1].after.nope: no step has id "nope"',
    ]);
  });

  it('precedence constraints join siblings only', () => {
    expect(
      problemsOf(
        'id: p\nversion: 1\nsteps:\n  - id: s\n    steps: [{ id: inner, exec: [echo] }]\n  - { id: b, exec: [echo], after: { inner: success } }\n',
      )[0],
    ).toMatch(/steps\[1\]\.after\.inner: step "inner" is not in the same container/);
  });

  it('after as a list takes constraints with when, several steps per entry, or bare ids (success)', () => {
    const pkg = load(
      'id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo] }\n  - { id: b, exec: [echo], after: [] }\n  - { id: c, exec: [echo], after: [a, { b: failure, when: "1 == 1" }] }\n  - { id: d, exec: [echo], after: [{ a: success, b: completion }] }\n',
    );
    const c = pkg.stepsById.get('c')!;
    expect(c.after?.map((x) => [x.step, x.on, x.whenSource])).toEqual([
      ['a', 'success', undefined],
      ['b', 'failure', '1 == 1'],
    ]);
    expect(pkg.stepsById.get('d')!.after?.map((x) => x.on)).toEqual(['success', 'completion']);
    expect(problemsOf('id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo] }\n  - { id: b, exec: [echo], after: [{ a: maybe }] }\n')).toEqual([
      'steps[1].after[0].a: expected success, failure or completion, not "maybe"',
    ]);
  });

  it('cycles are refused with the steps on the cycle', () => {
    const problems = problemsOf(
      'id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo], after: { c: success } }\n  - { id: b, exec: [echo], after: { a: success } }\n  - { id: c, exec: [echo], after: { b: success } }\n',
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/steps\[\d\]\.after: precedence constraints form a cycle: (a|b|c) -> .* -> (a|b|c)/);
  });

  it('a bad expression is refused with its path and position', () => {
    expect(
      problemsOf(
        'id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo] }\n  - { id: b, exec: [echo], after: [{ a: success, when: "vars.x >" }] }\n',
      )[0],
    ).toMatch(/steps\[1\]\.after\[0\]\.when: expression "vars.x >": unexpected end/);
    expect(problemsOf('id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo, "${{ process.exit() }}"] }\n')[0]).toMatch(
      /steps\[0\]\.exec\[1\]: .*expected vars.NAME or config.KEY/,
    );
  });

  it('a copy step without a registered copy plug-in is refused, naming the step', () => {
    expect(problemsOf('id: p\nversion: 1\nsteps:\n  - { id: ship, copy: { from: a, to: b } }\n')[0]).toMatch(
      /steps\[0\]\.copy: step "ship" is a copy task, and no copy task plug-in is registered/,
    );
  });

  it('a copy plug-in validates its spec with the path', () => {
    const plugin = {
      kind: 'copy',
      validate: (_spec: unknown, where: string) => {
        throw new Error(`${where}.to: expected a path`);
      },
      run: async () => undefined,
    };
    expect(() => parsePackageText('id: p\nversion: 1\nsteps:\n  - { id: ship, copy: { from: a } }\n', { file: 'x.yaml', plugins: [plugin] })).toThrow(
      /steps\[0\]\.copy: steps\[0\]\.copy\.to: expected a path/,
    );
  });

  it('variable values must match their declared type', () => {
    expect(problemsOf('id: p\nversion: 1\nvariables: { rows: { type: int, value: "x" } }\nsteps:\n  - { id: a, exec: [echo] }\n')).toEqual([
      'variables.rows.value: expected an integer, got "x"',
    ]);
  });

  it('YAML syntax errors name the line', () => {
    expect(problemsOf('id: p\nversion: 1\nsteps: [\n')[0]).toMatch(/^line \d+, column \d+:/);
  });

  it('the builder and the file compile to the same structure', () => {
    const fromFile = load('id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo] }\n  - { id: b, exec: [echo], after: { a: failure } }\n');
    const built = definePackage({ id: 'p', version: 1 }, { id: 'a', exec: ['echo'] }, { id: 'b', exec: ['echo'], after: { a: 'failure' } });
    expect(structureOf(built)).toEqual(structureOf(fromFile));
  });

  it('the builder reports problems with paths too', () => {
    expect(() =>
      definePackage(
        { id: 'p', version: 1 },
        task('a', () => undefined),
        task('a', () => undefined),
      ),
    ).toThrow(/steps\[1\]\.id: duplicate step id "a"/);
  });
});
