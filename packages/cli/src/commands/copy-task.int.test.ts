import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyTaskPlugin } from './copy-task.js';
import { ckptBin } from '../test-support/ckpt-bin.js';

const main = ckptBin();
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-copy-task-'));
  // Like cp, a copy does not create the destination's folder.
  mkdirSync(join(dir, 'out'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const run = (file: string, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [main, 'run', file, '--json'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });
const eventsOf = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('the copy task of packages', () => {
  it('refuses a malformed copy spec at load, naming the field', () => {
    expect(() => copyTaskPlugin.validate({ from: 'a' }, 'steps[3].copy')).toThrow(/steps\[3\]\.copy\.to: missing/);
    expect(() => copyTaskPlugin.validate({ from: 'a', to: 'b', checkpointInterval: 'lots' }, 'steps[3].copy')).toThrow(
      /steps\[3\]\.copy\.checkpointInterval/,
    );
    expect(() => copyTaskPlugin.validate({ from: 'a', to: 'b', colour: 'red' }, 'steps[3].copy')).toThrow(/steps\[3\]\.copy\.colour: unknown field/);
    expect(() => copyTaskPlugin.validate({ from: 'a', to: 'b', hash: 'md5' }, 'steps[3].copy')).toThrow(
      /steps\[3\]\.copy\.hash: "md5" is not one of xxh3, sha256/,
    );
  });

  it('a copy step takes the chain hash as `ckpt copy --hash` does', () => {
    writeFileSync(join(dir, 'data.bin'), randomBytes(100_000));
    const file = join(dir, 'hash.yaml');
    writeFileSync(file, `id: hash\nversion: 1\nsteps:\n  - { id: ship, copy: { from: data.bin, to: out/data.bin, hash: sha256 } }\n`);
    const result = run(file);
    expect(result.status).toBe(0);
    const shipped = eventsOf(result.stdout).find((e) => e['type'] === 'unit-completed' && e['unit'] === 'ship');
    expect((shipped?.['result'] as { digest?: string } | undefined)?.digest).toMatch(/^sha256-chain:[0-9a-f]{64}$/);
  });

  it('copies with the file-transfer runner, records what it sent, and is skipped once done', () => {
    writeFileSync(join(dir, 'data.bin'), randomBytes(300_000));
    const file = join(dir, 'ship.yaml');
    writeFileSync(
      file,
      `id: ship\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n` +
        `  - { id: ship, copy: { from: data.bin, to: out/data.bin, checkpointInterval: 64KiB } }\n` +
        `  - { id: check, exec: [sh, -c, 'test -f ${join(dir, 'ready')}'] }\n`,
    );
    const first = run(file);
    expect(first.status).toBe(1);
    const shipped = eventsOf(first.stdout).find((e) => e['type'] === 'unit-completed' && e['unit'] === 'ship');
    expect(shipped?.['result']).toMatchObject({ bytes: 300_000, sent: 300_000, resumedFrom: 0 });
    expect(readFileSync(join(dir, 'out', 'data.bin')).equals(readFileSync(join(dir, 'data.bin')))).toBe(true);
    writeFileSync(join(dir, 'ready'), '');
    const second = run(file);
    expect(second.status).toBe(0);
    const units = eventsOf(second.stdout)
      .filter((e) => e['type'] === 'unit-started')
      .map((e) => e['unit']);
    expect(units).toEqual(['check']);
  });

  it('a package killed with SIGKILL mid-copy resumes the transfer at its last checkpoint', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    writeFileSync(join(dir, 'data.bin'), data);
    const file = join(dir, 'ship.yaml');
    writeFileSync(
      file,
      `id: ship\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - { id: ship, copy: { from: data.bin, to: out/data.bin, checkpointInterval: 256KiB } }\n`,
    );
    const partial = join(dir, 'out', '.data.bin.ckpt-part');
    const child = spawn(process.execPath, [main, 'run', file, '--json'], {
      env: { ...process.env, CKPT_COPY_RATE_LIMIT: '4MiB' },
      stdio: 'ignore',
      detached: true,
    });
    const exited = new Promise((done) => child.once('exit', done));
    // Kill once at least a megabyte (four checkpoints) has been received.
    await expect.poll(() => (existsSync(partial) ? statSync(partial).size : 0), { timeout: 30_000, interval: 20 }).toBeGreaterThan(1024 * 1024);
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
    expect(existsSync(join(dir, 'out', 'data.bin'))).toBe(false);
    const rerun = run(file);
    expect(rerun.status, rerun.stderr).toBe(0);
    const shipped = eventsOf(rerun.stdout).find((e) => e['type'] === 'unit-completed' && e['unit'] === 'ship');
    const result = shipped?.['result'] as { resumedFrom: number; sent: number };
    expect(result.resumedFrom).toBeGreaterThan(0);
    expect(result.sent).toBe(data.length - result.resumedFrom);
    expect(readFileSync(join(dir, 'out', 'data.bin')).equals(data)).toBe(true);
  });
});
