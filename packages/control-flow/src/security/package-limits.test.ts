/**
 * Issue 12, items 11 and 12: a package file cannot exhaust memory, time or the stack. Size,
 * nesting, step count, string length and YAML alias expansion are capped, and each refusal is a
 * PackageDefinitionError or InvalidInputError (exit 2) naming the file, the field and the limit.
 */
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '@ckpt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PackageLimits, compilePackage } from '../compile.js';
import { PackageDefinitionError } from '../errors.js';
import { loadPackageFile, parsePackageText } from '../package-file.js';

const HEAD = 'id: p\nversion: 1\nsteps:\n  - { id: a, exec: [sh, -c, "true"] }\n';

/** The error `make` throws; fails the test when it throws none. */
function refusal(make: () => unknown): Error {
  try {
    make();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a refusal');
}

function definitionRefusal(text: string): PackageDefinitionError {
  const error = refusal(() => parsePackageText(text, { file: 'p.yaml', baseDir: '/tmp' }));
  expect(error).toBeInstanceOf(PackageDefinitionError);
  expect(error.message).toContain('p.yaml');
  return error as PackageDefinitionError;
}

describe('YAML alias bombs', () => {
  it('a billion-laughs document is one problem naming the alias limit, not a ReferenceError', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const name = String.fromCharCode(97 + i);
      const prev = String.fromCharCode(96 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = Date.now();
    const error = definitionRefusal(`${HEAD}${levels.join('\n')}\n`);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/alias/);
    expect(error.problems[0]).toContain(String(PackageLimits.aliases));
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('an alias inside its own anchor (a cycle) is refused, not recursed into', () => {
    const error = definitionRefusal(`${HEAD}config: &c { a: *c }\n`);
    expect(error.problems.join('\n')).toMatch(/contains itself/);
  });
});

describe('nesting depth', () => {
  const tooDeep = (error: PackageDefinitionError) => {
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/nested too deeply \(more than 64 levels/);
    expect(error.message).not.toMatch(/call stack/i);
  };
  for (const depth of [PackageLimits.depth + 2, 2_000, 20_000, 200_000]) {
    it(`${depth} levels of flow lists in YAML`, () => tooDeep(definitionRefusal(`${HEAD}extra: ${'['.repeat(depth)}${']'.repeat(depth)}\n`)));
    it(`${depth} levels of arrays in JSON`, () =>
      tooDeep(definitionRefusal(`{"id":"p","version":1,"steps":[{"id":"a","exec":["true"]}],"x":${'['.repeat(depth)}${']'.repeat(depth)}}`)));
  }
  it('20,000 levels of compact block lists ("- - - ...")', () => tooDeep(definitionRefusal(`${HEAD}extra:\n${'- '.repeat(20_000)}x\n`)));
  it('nested maps in block style, named by line and column', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `${' '.repeat(i)}k${i}:`);
    const error = definitionRefusal(`${HEAD}extra:\n${lines.join('\n')} v\n`);
    tooDeep(error);
    expect(error.problems[0]).toMatch(/^line \d+, column \d+: /);
  });
  it('a builder definition nested too deeply names the path', () => {
    let steps: unknown = [{ id: 'leaf', exec: ['true'] }];
    for (let i = 0; i < 40; i++) steps = [{ id: `s${i}`, steps }];
    const error = refusal(() => compilePackage({ id: 'p', version: 1, steps }));
    expect(error).toBeInstanceOf(PackageDefinitionError);
    expect(error.message).toMatch(/steps\[0\]\.steps\[0\].*: nested too deeply \(more than 64 levels/);
  });
  it('a package within the limit still loads (32 levels of containers is 64 levels minus the root)', () => {
    let steps = '[{ id: leaf, exec: ["true"] }]';
    for (let i = 0; i < 30; i++) steps = `[{ id: s${i}, steps: ${steps} }]`;
    const pkg = parsePackageText(`id: p\nversion: 1\nsteps: ${steps}\n`, { file: 'p.yaml', baseDir: '/tmp' });
    expect(pkg.stepsById.size).toBe(31);
  });
});

describe('size, steps and string length', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ckpt-limits-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('a 50 MB package file is refused before it is read, naming the file and the 1 MiB limit', async () => {
    const file = join(dir, 'huge.yaml');
    await writeFile(file, HEAD);
    await truncate(file, 50 * 1024 * 1024);
    const started = Date.now();
    const heap = process.memoryUsage().heapUsed;
    const error = await loadPackageFile(file).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error!.message).toContain(file);
    expect(error!.message).toContain('52,428,800 bytes; the limit is 1 MiB (1,048,576 bytes)');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(20 * 1024 * 1024);
  });

  it('a file one byte over the limit is refused; text handed to parsePackageText too', async () => {
    const text = `${HEAD}# ${'x'.repeat(PackageLimits.fileBytes - HEAD.length - 2)}`;
    expect(Buffer.byteLength(text)).toBe(PackageLimits.fileBytes);
    const file = join(dir, 'edge.yaml');
    await writeFile(file, `${text}x`);
    await expect(loadPackageFile(file)).rejects.toThrow(/is 1,048,577 bytes; the limit is 1 MiB/);
    expect(() => parsePackageText(`${text}x`, { file: 'text.yaml' })).toThrow(/package file text.yaml is 1,048,577 bytes; the limit is 1 MiB/);
    // Exactly at the limit loads.
    await writeFile(file, text);
    await expect(loadPackageFile(file)).resolves.toMatchObject({ id: 'p' });
  });

  it(`more than ${PackageLimits.steps} steps are refused with the count and the limit`, () => {
    const steps = Array.from({ length: PackageLimits.steps + 1 }, (_, i) => ({ id: `s${i}`, exec: ['true'] }));
    const error = refusal(() => compilePackage({ id: 'p', version: 1, steps }));
    expect(error).toBeInstanceOf(PackageDefinitionError);
    expect(error.message).toContain('steps: 10,001 steps; the limit is 10,000');
  });

  it('an argument longer than 64 KiB is refused naming the field', () => {
    const error = definitionRefusal(`id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo, "${'x'.repeat(70_000)}"] }\n`);
    expect(error.problems).toEqual(['steps[0].exec[1]: 70,000 characters; the limit is 65,536 per value']);
  });
});
