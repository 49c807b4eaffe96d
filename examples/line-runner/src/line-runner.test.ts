import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '@ckpt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lineRunner, type LineJob } from './line-runner.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-lines-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the example line runner', () => {
  it('after a failure at line 750 it resumes at the last checkpoint and the output equals an uninterrupted run', async () => {
    const input = join(dir, 'in.txt');
    writeFileSync(input, Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join(''));
    const output = join(dir, 'out.txt');
    const transformed: string[] = [];
    const job = (failAt?: number): LineJob => ({
      input,
      output,
      transformName: 'upper',
      linesPerCheckpoint: 100,
      transform: (line) => {
        if (failAt !== undefined && line === `line ${failAt}`) throw new Error(`cannot transform ${line}`);
        transformed.push(line);
        return line.toUpperCase();
      },
    });
    const checkpoint = { path: `${output}.ckpt`, usage: 'if-exists' as const, save: true };
    const first = await new Engine().run(lineRunner, job(750), { checkpoint });
    expect(first.outcome).toBe('failure');
    expect(existsSync(output)).toBe(false);
    expect(transformed).toHaveLength(750);
    transformed.length = 0;
    const second = await new Engine().run(lineRunner, job(), { checkpoint });
    expect(second).toMatchObject({ outcome: 'success', resumed: true, checkpointRemoved: true });
    // Lines 0..749 were transformed; the last checkpoint covers 0..699, so 700..749 run again.
    expect(transformed[0]).toBe('line 700');
    expect(transformed).toHaveLength(300);
    expect(readFileSync(output, 'utf8')).toBe(Array.from({ length: 1000 }, (_, i) => `LINE ${i}\n`).join(''));
  });
});
