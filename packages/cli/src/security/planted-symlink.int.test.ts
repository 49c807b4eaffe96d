/**
 * Issue 12, item 1: a symbolic link planted at the name of a hidden companion (the partial data
 * `.NAME.ckpt-part`, the checkpoint `.NAME.ckpt`) or at the destination must never redirect a
 * write: `ckpt copy` refuses it (exit 2, naming the file, saying to remove it), locally and
 * through `ckpt serve`, and the link's target is left as it was.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';
import { freePort, prepareLoopbackNode, startLoopbackNode, stopLoopbackNode } from '../test-support/loopback-node.js';

const MAIN = ckptBin();
const PRECIOUS = 'precious: must never be overwritten\n';

let dir: string;
let server: ChildProcess | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-planted-link-'));
  await mkdir(join(dir, 'outside'));
  await writeFile(join(dir, 'outside', 'precious.txt'), PRECIOUS);
  await writeFile(join(dir, 'foo.txt'), 'the data being copied\n');
});
afterEach(async () => {
  await stopLoopbackNode(server);
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

function ckpt(args: readonly string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
}

/** A refusal the contract promises: exit 2, the file named, what to do, no stack trace. */
function expectRefusedNaming(run: ReturnType<typeof ckpt>, name: string): void {
  expect(run.status, run.stderr).toBe(2);
  expect(run.stderr).toContain(name);
  expect(run.stderr).toMatch(/symbolic link, not a regular file/);
  expect(run.stderr).toMatch(/remove it and rerun/);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

const precious = () => readFileSync(join(dir, 'outside', 'precious.txt'), 'utf8');

describe('a symbolic link planted beside a local destination', () => {
  beforeEach(async () => {
    await mkdir(join(dir, 'shared'));
  });

  it('at the partial-data name: refused, the target untouched, no destination', async () => {
    await symlink('../outside/precious.txt', join(dir, 'shared', '.report.csv.ckpt-part'));
    expectRefusedNaming(ckpt(['copy', 'foo.txt', 'shared/report.csv', '--short-retries', '0']), '.report.csv.ckpt-part');
    expect(precious()).toBe(PRECIOUS);
    expect(existsSync(join(dir, 'shared', 'report.csv'))).toBe(false);
    expect(lstatSync(join(dir, 'shared', '.report.csv.ckpt-part')).isSymbolicLink()).toBe(true);
  });

  it('at the checkpoint name: refused, the target untouched', async () => {
    await symlink('../outside/precious.txt', join(dir, 'shared', '.report.csv.ckpt'));
    expectRefusedNaming(ckpt(['copy', 'foo.txt', 'shared/report.csv', '--short-retries', '0']), '.report.csv.ckpt');
    expect(precious()).toBe(PRECIOUS);
    expect(existsSync(join(dir, 'shared', 'report.csv'))).toBe(false);
  });

  it('at the destination name: refused, the link and its target untouched', async () => {
    await symlink('../outside/precious.txt', join(dir, 'shared', 'report.csv'));
    expectRefusedNaming(ckpt(['copy', 'foo.txt', 'shared/report.csv', '--short-retries', '0']), 'report.csv');
    expect(precious()).toBe(PRECIOUS);
    expect(lstatSync(join(dir, 'shared', 'report.csv')).isSymbolicLink()).toBe(true);
  });

  it('swapped in for the partial file while the copy runs: nothing is published', async () => {
    await writeFile(join(dir, 'big'), randomBytes(2 * 1024 * 1024));
    const child = spawn(
      process.execPath,
      [MAIN, 'copy', 'big', 'shared/report.csv', '--json', '--checkpoint-interval', '256KiB', '--short-retries', '0'],
      {
        cwd: dir,
        env: { ...process.env, CKPT_COPY_RATE_LIMIT: '2MiB' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    // Once the first checkpoint is announced, replace the partial file's name with a link.
    await new Promise<void>((swapped, fail) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('"transfer/checkpoint"')) {
          child.stdout!.removeAllListeners('data');
          const link = join(dir, 'shared', 'planted');
          symlink('../outside/precious.txt', link)
            .then(() => rename(link, join(dir, 'shared', '.report.csv.ckpt-part')))
            .then(swapped, fail);
        }
      });
      child.once('exit', () => fail(new Error(`the copy ended before its first checkpoint: ${stderr}`)));
    });
    child.stdout!.resume();
    expect(await exited, stderr).toBe(2);
    expect(stderr).toMatch(/\.report\.csv\.ckpt-part was replaced or removed while the copy ran; nothing was published/);
    expect(precious()).toBe(PRECIOUS);
    expect(existsSync(join(dir, 'shared', 'report.csv'))).toBe(false);
  }, 30_000);
});

describe('a symbolic link planted in the root of a node', () => {
  it('at the partial-data name of a push: refused, the target outside the root untouched', async () => {
    const port = await freePort();
    await prepareLoopbackNode(dir, port);
    await mkdir(join(dir, 'root', 'in'));
    await symlink('../../outside/precious.txt', join(dir, 'root', 'in', '.report.csv.ckpt-part'));
    server = await startLoopbackNode(dir, port);
    const run = ckpt(['copy', 'foo.txt', 'ckpt://beta/in/report.csv', '--netmap', 'netmap.yaml', '--node', 'alpha', '--short-retries', '0']);
    expectRefusedNaming(run, '.report.csv.ckpt-part');
    expect(precious()).toBe(PRECIOUS);
    expect(existsSync(join(dir, 'root', 'in', 'report.csv'))).toBe(false);
  }, 30_000);
});
