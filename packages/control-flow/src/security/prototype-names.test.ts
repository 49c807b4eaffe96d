/**
 * Issue 12, item 20 (package part): names never reach Object.prototype. `__proto__` as a
 * variable name or configuration key is refused (an object would drop it silently), references
 * resolve own names only (`config.constructor` is "not defined" unless the package defines it:
 * refused when the package loads, and at run time for what a function task expands),
 * and step ids such as `toString` are ordinary ids.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { definePackage, exec, task } from '../builder.js';
import { compilePackage } from '../compile.js';
import { PackageDefinitionError } from '../errors.js';
import { ExpressionError, parseExpression } from '../expression.js';
import { parsePackageText } from '../package-file.js';
import { runPackage, tempDir } from '../test-support/harness.js';

const load = (text: string) => parsePackageText(text, { file: 'p.yaml', baseDir: '/tmp' });

function problemsOf(make: () => unknown): readonly string[] {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(PackageDefinitionError);
    return (error as PackageDefinitionError).problems;
  }
  throw new Error('expected the package to be refused');
}

describe('__proto__ as a name', () => {
  it('a variable named __proto__ is refused, not dropped', () => {
    expect(
      problemsOf(() => load('id: p\nversion: 1\nvariables:\n  __proto__: { type: string, value: x }\nsteps: [{ id: a, exec: ["true"] }]\n')),
    ).toEqual(['variables.__proto__: "__proto__" cannot be a name or key (it would be dropped silently); rename it']);
  });
  it('a config key named __proto__ is refused, in YAML and in JSON', () => {
    expect(problemsOf(() => load('id: p\nversion: 1\nconfig: { __proto__: x, ok: 1 }\nsteps: [{ id: a, exec: ["true"] }]\n'))).toEqual([
      'config.__proto__: "__proto__" cannot be a name or key (it would be dropped silently); rename it',
    ]);
    expect(problemsOf(() => load('{"id":"p","version":1,"config":{"__proto__":"x"},"steps":[{"id":"a","exec":["true"]}]}'))).toEqual([
      'config.__proto__: "__proto__" cannot be a name or key (it would be dropped silently); rename it',
    ]);
  });
  it('a builder definition with an own __proto__ key is refused too', () => {
    const config = JSON.parse('{"__proto__": "x"}') as Record<string, string>;
    expect(problemsOf(() => compilePackage({ id: 'p', version: 1, config, steps: [{ id: 'a', exec: ['true'] }] }))).toEqual([
      'config.__proto__: "__proto__" cannot be a name or key (it would be dropped silently); rename it',
    ]);
  });
  it('expressions cannot name vars.__proto__ or config.__proto__', () => {
    for (const source of ['vars.__proto__', 'config.__proto__ == 1']) {
      expect(() => parseExpression(source)).toThrow(ExpressionError);
      expect(() => parseExpression(source)).toThrow(/__proto__" is not a name a variable or configuration key can have/);
    }
    expect(problemsOf(() => load('id: p\nversion: 1\nsteps: [{ id: a, exec: [echo, "${{ config.__proto__ }}"] }]\n'))[0]).toMatch(
      /^steps\[0\]\.exec\[1\]: expression "config.__proto__"/,
    );
  });
});

describe('references resolve own names only', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => ({ dir, cleanup } = await tempDir()));
  afterEach(async () => cleanup());

  for (const name of ['constructor', 'toString', 'hasOwnProperty', '__defineGetter__']) {
    it(`\${{ config.${name} }} is "not defined": the package is refused when it loads, before any step runs`, () => {
      expect(
        problemsOf(() =>
          load(`id: p\nversion: 1\nconfig: { real: 1 }\nsteps:\n  - { id: a, exec: [sh, -c, 'echo "\${{ config.${name} }}" > out.txt'] }\n`),
        ),
      ).toEqual([`steps[0].exec[2]: config.${name} is not defined (config has: real); add it under config:`]);
    });
  }

  it('a task sees config.constructor only when the package really defines that key', async () => {
    const seen: unknown[] = [];
    const probe = task('a', (ctx) => {
      seen.push(ctx.getConfig('constructor'));
      seen.push(ctx.expand('${{ config.constructor }}'));
    });
    const undefinedKey = await runPackage(definePackage({ id: 'p', version: 1, config: { other: 'x' } }, probe), join(dir, 'p1.ckpt'));
    expect(undefinedKey.result.outcome).toBe('failure');
    expect(undefinedKey.result.error?.message).toContain('config.constructor is not defined');
    expect(seen).toEqual([undefined]);
    const definedKey = await runPackage(definePackage({ id: 'p', version: 1, config: { constructor: 'mine' } }, probe), join(dir, 'p2.ckpt'));
    expect(definedKey.result.outcome).toBe('success');
    expect(seen).toEqual([undefined, 'mine', 'mine']);
  });

  it('a step that writes __proto__=... to $CKPT_OUTPUT fails naming the line, and sets nothing', async () => {
    const pkg = definePackage({ id: 'p', version: 1 }, exec('out', ['sh', '-c', 'echo "__proto__=x" >> "$CKPT_OUTPUT"']));
    const { result } = await runPackage({ ...pkg, baseDir: dir }, join(dir, 'p.ckpt'));
    expect(result.outcome).toBe('failure');
    expect(result.error?.message).toContain('$CKPT_OUTPUT line 1: "__proto__" cannot be a variable name');
    expect(result.state.variables.size).toBe(0);
  });

  it('steps named toString and constructor run normally when --force-result names other steps', async () => {
    const ran: string[] = [];
    const pkg = definePackage(
      { id: 'p', version: 1 },
      task('toString', () => void ran.push('toString')),
      task('constructor', () => void ran.push('constructor')),
      exec('last', ['true']),
    );
    const { result, notices } = await runPackage(pkg, join(dir, 'p.ckpt'), { forceResults: {}, set: {} });
    expect(result.outcome).toBe('success');
    expect(ran).toEqual(['toString', 'constructor']);
    expect(notices.filter((n) => n.kind === 'step-finished').map((n) => (n as { result: string }).result)).toEqual(['success', 'success', 'success']);
  });
});
