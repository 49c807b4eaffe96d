import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mapStackTrace } from './map-stack-trace.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-stack-'));
  mkdirSync(join(dir, 'dist'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('mapStackTrace', () => {
  it('rewrites frames of a bundled file with a linked map to the original source, leaves others alone', () => {
    writeFileSync(join(dir, 'dist', 'ckpt.mjs'), 'a();\nb();\n//# sourceMappingURL=ckpt.mjs.map\n');
    // Generated line 1 column 1 is x.ts:1:1; generated line 2 column 1 is x.ts:2:1.
    writeFileSync(join(dir, 'dist', 'ckpt.mjs.map'), JSON.stringify({ version: 3, sources: ['../src/x.ts'], names: [], mappings: 'AAAA;AACA' }));
    writeFileSync(join(dir, 'dist', 'no-map.mjs'), 'c();\n');
    const bundle = pathToFileURL(join(dir, 'dist', 'ckpt.mjs')).href;
    const unmapped = pathToFileURL(join(dir, 'dist', 'no-map.mjs')).href;
    const stack = [
      'Error: boom',
      `    at b (${bundle}:2:1)`,
      `    at async ${bundle}:1:1`,
      `    at c (${unmapped}:1:1)`,
      '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
    ].join('\n');
    expect(mapStackTrace(stack).split('\n')).toEqual([
      'Error: boom',
      `    at b (${join(dir, 'src', 'x.ts')}:2:1)`,
      `    at async ${join(dir, 'src', 'x.ts')}:1:1`,
      `    at c (${unmapped}:1:1)`,
      '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
    ]);
  });

  it('keeps the raw frame when the map is unreadable', () => {
    writeFileSync(join(dir, 'dist', 'ckpt.mjs'), 'a();\n');
    writeFileSync(join(dir, 'dist', 'ckpt.mjs.map'), '{ not json');
    const frame = `    at a (${pathToFileURL(join(dir, 'dist', 'ckpt.mjs')).href}:1:1)`;
    expect(mapStackTrace(frame)).toBe(frame);
  });
});
