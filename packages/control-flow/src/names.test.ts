/**
 * Names read in templates and expressions are checked when a package compiles, where they are
 * read: declared variables and config keys everywhere, loop and handler names only inside.
 */
import { describe, expect, it } from 'vitest';
import { closestName } from './closest-name.js';
import { compilePackage } from './compile.js';
import { PackageDefinitionError, type PackageProblem } from './errors.js';
import { parsePackageText } from './package-file.js';
import type { TaskPlugin } from './task-context.js';

const copyDouble: TaskPlugin = { kind: 'copy', validate: (spec) => spec, run: async () => undefined };
const HEAD = 'id: p\nversion: 1\nvariables:\n  count: { type: int, value: 0 }\nconfig:\n  outDir: ./out\nsteps:\n';

function problemsOf(steps: string, extra = ''): PackageProblem[] {
  try {
    parsePackageText(`${HEAD}${steps}${extra}`, { file: 'p.yaml', baseDir: '/tmp', plugins: [copyDouble] });
  } catch (error) {
    expect(error).toBeInstanceOf(PackageDefinitionError);
    return [...(error as PackageDefinitionError).details];
  }
  return [];
}

describe('names in templates and expressions', () => {
  it('a misspelt variable or config key is refused with the closest name, its step, line and column', () => {
    expect(problemsOf(`  - id: a\n    exec: [sh, -c, 'echo \${{ vars.cuont }} > \${{ config.outdir }}/x']\n`)).toEqual([
      {
        path: 'steps[0].exec[2]',
        step: 'a',
        line: 9,
        column: 20,
        message: 'vars.cuont is not defined; did you mean vars.count?',
        suggestion: 'count',
      },
      {
        path: 'steps[0].exec[2]',
        step: 'a',
        line: 9,
        column: 20,
        message: 'config.outdir is not defined; did you mean config.outDir?',
        suggestion: 'outDir',
      },
    ]);
  });

  it('declared names pass everywhere: exec, rollback, forEach items and files, copy specs, when, while, init, next', () => {
    expect(
      problemsOf(`  - id: t
    transaction: required
    rollback: [echo, '\${{ vars.count }}']
    steps: [{ id: x, exec: [echo, '\${{ config.outDir }}'] }]
  - id: each
    forEach: { items: ['\${{ config.outDir }}'], as: f }
    steps: [{ id: y, copy: { from: '\${{ vars.f }}', to: '\${{ config.outDir }}/\${{ vars.fIndex }}' } }]
  - id: files
    forEach: { files: '\${{ config.outDir }}/*.csv' }
    steps: [{ id: z, exec: [echo, '\${{ vars.item }} \${{ vars.itemIndex }}'] }]
  - id: loop
    for: { init: "vars.count = 1, vars.i = vars.count", while: "vars.i <= 3 && vars.count > 0", next: "vars.i = vars.i + 1" }
    steps:
      - { id: w, exec: [echo, '\${{ vars.i }}'] }
      - { id: v, after: [{ w: success, when: "vars.i > 1" }], exec: ["true"] }
    onError: [{ id: h, exec: [echo, '\${{ vars.failedStep }} \${{ vars.errorMessage }} \${{ vars.i }}'] }]
`),
    ).toEqual([]);
  });

  it('a forEach name is in scope inside its loop only; items and files are expanded outside it', () => {
    const problems = problemsOf(`  - id: each
    forEach: { items: ['\${{ vars.region }}'], as: region }
    steps: [{ id: in, exec: [echo, '\${{ vars.region }}'] }]
  - { id: after, exec: [echo, '\${{ vars.regionIndex }}'] }
`);
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'steps[0].forEach.items[0]: vars.region is defined only inside the forEach loop "each"',
      'steps[1].exec[1]: vars.regionIndex is defined only inside the forEach loop "each"',
    ]);
  });

  it('a for loop variable that is not declared lives in its loop; a misspelt assignment in next is refused (it would loop for ever)', () => {
    const problems = problemsOf(`  - id: loop
    for: { init: "vars.batch = 1", while: "vars.batch <= 5", next: "vars.btach = vars.batch + 1" }
    steps: [{ id: in, exec: [echo, '\${{ vars.batch }}'] }]
  - { id: report, after: [{ loop: completion, when: "vars.batch > 5" }], exec: ["true"] }
`);
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'steps[0].for.next: vars.btach is assigned but not declared; did you mean vars.batch?',
      'steps[1].after[0].when: vars.batch is defined only inside the for loop "loop"',
    ]);
  });

  it('failedStep and errorMessage are known in onError handlers only; a name nobody defines lists what is', () => {
    const problems = problemsOf(
      `  - { id: a, exec: [echo, '\${{ vars.failedStep }}', '\${{ vars.zzz }}', '\${{ config.nope }}'] }\n`,
      'onError:\n  - { id: h, exec: [echo, "${{ vars.errorMessage }}"] }\n',
    );
    expect(problems.map((p) => p.message)).toEqual([
      'vars.failedStep is defined only inside onError handlers',
      'vars.zzz is not defined (defined here: count); declare it under variables:',
      'config.nope is not defined (config has: outDir); add it under config:',
    ]);
  });

  it('a variable only a task writes through $CKPT_OUTPUT must be declared to be read', () => {
    const problems = problemsOf(
      `  - { id: count, exec: [sh, -c, 'echo rows=3 >> "$CKPT_OUTPUT"'] }\n  - { id: use, exec: [echo, '\${{ vars.rows }}'] }\n`,
    );
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'steps[1].exec[1]: vars.rows is not defined (defined here: count); declare it under variables:',
    ]);
  });

  it('a syntax error is reported once, by the compiler, not again as a name', () => {
    expect(problemsOf(`  - { id: a, exec: [echo, '\${{ vars. }}'] }\n`).map((p) => p.path)).toEqual(['steps[0].exec[1]']);
  });
});

describe('many unknown names', () => {
  it('the first 20 get a suggestion or a list of at most 10 names; the rest are named only, and it stays fast', () => {
    // A definition object, not YAML: what is timed is the name check, not the YAML parser.
    const pad = (i: number) => String(i).padStart(5, '0');
    const variables = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`v${pad(i)}`, { type: 'int' as const, value: 0 }]));
    const steps = Array.from({ length: 3000 }, (_, i) => ({ id: `s${i}`, exec: ['echo', `\${{ vars.w${pad(i)} }}`, '${{ vars.zzzzzzzzz }}'] }));
    const started = Date.now();
    let details: readonly PackageProblem[] = [];
    try {
      compilePackage({ id: 'p', version: 1, variables, steps });
    } catch (error) {
      details = (error as PackageDefinitionError).details;
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(details).toHaveLength(6000);
    expect(details[0]!.message).toBe('vars.w00000 is not defined; did you mean vars.v00000?');
    expect(details[1]!.message).toBe(
      'vars.zzzzzzzzz is not defined (defined here: v00000, v00001, v00002, v00003, v00004, v00005, v00006, v00007, v00008, v00009, … (2990 more)); declare it under variables:',
    );
    expect(details.slice(20).every((p) => !p.message.includes('did you mean') && !p.message.includes('defined here'))).toBe(true);
  });
});

describe('closestName', () => {
  it('ignores case first, then allows one edit per three characters', () => {
    expect(closestName('outdir', ['outDir', 'out'])).toBe('outDir');
    expect(closestName('cuont', ['count', 'day'])).toBe('count');
    expect(closestName('rows', ['row', 'rowz'])).toBe('row');
    expect(closestName('zzz', ['count', 'day'])).toBeUndefined();
    expect(closestName('a', [])).toBeUndefined();
  });
});
