import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { Engine, createIdentity, type Runner } from '@ckpt/core';
import { concat, of, throwError } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from './test-support/ckpt-bin.js';

const main = ckptBin();
const ckpt = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const identity = createIdentity({ kind: 'demo', id: 'nightly', version: 3, structure: ['a', 'b'] });
const halfDone: Runner<null> = {
  kind: 'demo',
  identify: () => identity,
  run: () =>
    concat(
      of({ type: 'unit-started' as const, unit: 'extract' }, { type: 'unit-completed' as const, unit: 'extract', outcome: 'success' as const }),
      of({ type: 'unit-started' as const, unit: 'load' }, { type: 'cursor-set' as const, unit: 'load', cursor: { row: 42 } }),
      throwError(() => new Error('load lost its connection')),
    ),
};

async function failedCheckpoint(): Promise<string> {
  const path = join(dir, 'nightly.ckpt');
  await new Engine().run(halfDone, null, { checkpoint: { path, usage: 'if-exists', save: true } });
  return path;
}

describe('ckpt CLI', () => {
  it('--version prints the version and exits 0', () => {
    const result = ckpt('--version');
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('a typo gets a suggestion and exit code 2', () => {
    const result = ckpt('inspct', 'x');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('Did you mean inspect?');
  });

  it('inspect shows identity, completed units and the restart point', async () => {
    const path = await failedCheckpoint();
    const human = ckpt('inspect', path);
    expect(human.status).toBe(0);
    expect(human.stdout).toContain('demo "nightly" version 3');
    expect(human.stdout).toMatch(/✓ extract/);
    expect(human.stdout).toMatch(/runs again first: load/);
    const json = JSON.parse(ckpt('inspect', path, '--json').stdout) as {
      restartPoint: { skipped: string[]; inFlight: string[] };
      cursors: unknown[];
    };
    expect(json.restartPoint).toMatchObject({ skipped: ['extract'], inFlight: ['load'] });
    expect(json.cursors).toEqual([expect.objectContaining({ unit: 'load', cursor: { row: 42 } })]);
  });

  it('inspect shows the variables an open scope holds apart from the committed ones, and a newer format is refused as newer by inspect and events (exit 2)', async () => {
    const path = join(dir, 'scoped.ckpt');
    const inTransaction: Runner<null> = {
      kind: 'demo',
      identify: () => identity,
      run: () =>
        concat(
          of(
            { type: 'variable-set' as const, name: 'rows', value: 1, valueType: 'int', sensitive: false },
            { type: 'scope-opened' as const, scope: 'load@transaction', kind: 'transaction' },
            { type: 'variable-set' as const, name: 'rows', value: 2, valueType: 'int', sensitive: false, scope: 'load@transaction' },
          ),
          throwError(() => new Error('killed inside the transaction')),
        ),
    };
    await new Engine().run(inTransaction, null, { checkpoint: { path, usage: 'if-exists', save: true } }).catch(() => undefined);
    const human = ckpt('inspect', path);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/rows: int = 1/);
    expect(human.stdout).toContain('load@transaction  transaction, 0 units inside; variables set inside (dropped with it): rows');
    const json = JSON.parse(ckpt('inspect', path, '--json').stdout) as {
      variables: { name: string; value: unknown }[];
      scopes: { variables: string[] }[];
    };
    expect(json.variables).toEqual([expect.objectContaining({ name: 'rows', value: 1 })]);
    expect(json.scopes).toEqual([expect.objectContaining({ scope: 'load@transaction', variables: ['rows'] })]);

    const bytes = readFileSync(path);
    bytes.writeUInt16LE(3, 8);
    const headerLength = bytes.readUInt16LE(10);
    bytes.writeUInt32LE(crc32(bytes.subarray(0, headerLength - 4)), headerLength - 4);
    writeFileSync(path, bytes);
    const newer = ckpt('inspect', path);
    expect(newer.status).toBe(2);
    expect(newer.stderr).toContain('format version 3 is newer than this ckpt reads (versions 1 to 2)');
    expect(newer.stderr).toMatch(/upgrade ckpt/);
    expect(newer.stderr).not.toMatch(/corrupt|\n\s+at /);
    // events salvages damaged files; a newer one is not damaged: refused the same way, no advice to delete it.
    for (const events of [ckpt('events', path), ckpt('events', path, '--json')]) {
      expect(events.status).toBe(2);
      expect(events.stderr).toContain('format version 3 is newer than this ckpt reads (versions 1 to 2)');
      expect(events.stderr).toMatch(/upgrade ckpt/);
      expect(events.stdout + events.stderr).not.toMatch(/damage at|corrupt|delet|\n\s+at /);
    }
  });

  it('events prints every event in order, as JSON lines with --json', async () => {
    const path = await failedCheckpoint();
    const lines = ckpt('events', path, '--json')
      .stdout.trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type?: string; record?: string });
    expect(lines.map((l) => l.type ?? l.record)).toEqual([
      'epoch',
      'attempt-started',
      'unit-started',
      'unit-completed',
      'unit-started',
      'cursor-set',
      'attempt-ended',
    ]);
  });

  it('a missing or corrupt checkpoint is refused with exit 2 and the file named, no stack trace', () => {
    const missing = ckpt('inspect', join(dir, 'nope.ckpt'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('nope.ckpt');
    const garbage = join(dir, 'garbage.ckpt');
    writeFileSync(garbage, 'definitely not a checkpoint');
    const corrupt = ckpt('events', garbage);
    expect(corrupt.status).toBe(2);
    expect(corrupt.stderr).toContain('garbage.ckpt');
    expect(corrupt.stderr).not.toMatch(/\n\s+at /);
  });

  it('prune removes expired checkpoints and says what it removed', async () => {
    const path = await failedCheckpoint();
    const old = new Date(Date.now() - 40 * 24 * 3600 * 1000);
    utimesSync(path, old, old);
    const result = ckpt('prune', dir);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`removed ${path}`);
    expect(ckpt('inspect', path).status).toBe(2);
    expect(ckpt('prune', dir, '--older-than', 'soon').status).toBe(2);
  });
});
