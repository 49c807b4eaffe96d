/**
 * Issue 12, item 6: a byte flipped early in the partial file of a killed copy (older than the
 * interval `--verify tail` re-reads on resume) used to be published as verified. Whatever the
 * `--verify` level, what is published is the source byte for byte: with `tail` (the default)
 * the receiver re-hashes the rest of the kept prefix while the remainder arrives, and before
 * publishing sends the file again, saying so in a `transfer/restarted` event. Locally and
 * through a push to `ckpt serve`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';
import { freePort, prepareLoopbackNode, startLoopbackNode, stopLoopbackNode } from '../test-support/loopback-node.js';

const MAIN = ckptBin();
const SIZE = 4 * 1024 * 1024;
const INTERVAL = ['--checkpoint-interval', '256KiB'];
/** Checkpoints announced before the kill: the damaged byte lies far before the last interval. */
const CHECKPOINTS_BEFORE_KILL = 6;
const DAMAGED_OFFSET = 1000;

let dir: string;
let server: ChildProcess | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-damaged-prefix-'));
});
afterEach(async () => {
  await stopLoopbackNode(server);
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

type Event = Record<string, unknown>;
const eventsOf = (stdout: string): Event[] =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Event);

/** Runs `ckpt copy ARGS --json` slowly and SIGKILLs it once it announced enough checkpoints. */
async function copyKilledMidway(args: readonly string[]): Promise<void> {
  const child = spawn(process.execPath, [MAIN, 'copy', ...args, '--json', ...INTERVAL], {
    cwd: dir,
    env: { ...process.env, CKPT_COPY_RATE_LIMIT: '4MiB' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((done) => child.once('exit', done));
  await new Promise<void>((killed, fail) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (
        eventsOf(stdout.slice(0, stdout.lastIndexOf('\n') + 1)).filter((e) => e['type'] === 'transfer/checkpoint').length >= CHECKPOINTS_BEFORE_KILL
      ) {
        child.kill('SIGKILL');
        killed();
      }
    });
    child.once('exit', () => fail(new Error(`the copy ended before it was killed: ${stderr}`)));
  });
  await exited;
}

/** Flips one byte of `path` at `offset`. */
async function flipByte(path: string, offset: number): Promise<void> {
  const file = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, offset);
    byte[0] = byte[0]! ^ 0xff;
    await file.write(byte, 0, 1, offset);
  } finally {
    await file.close();
  }
}

function ckpt(args: readonly string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
}

/** The rerun published the source byte for byte, and said that it started over and why. */
function expectRestartedAndIdentical(rerun: ReturnType<typeof ckpt>, published: string, data: Buffer): void {
  expect(rerun.status, rerun.stderr).toBe(0);
  const events = eventsOf(rerun.stdout);
  const restarted = events.find((e) => e['type'] === 'transfer/restarted');
  expect(restarted, 'a transfer/restarted event').toBeDefined();
  expect(String(restarted!['reason'])).toMatch(/does not match its checkpoint|no longer matches what was received/);
  expect(events.at(-1)).toMatchObject({ type: 'transfer-completed', bytes: data.length, resumedFrom: 0 });
  expect(readFileSync(published).equals(data), 'published bytes equal the source').toBe(true);
}

describe('a byte flipped early in the partial file of a killed copy', () => {
  // (`--verify full` already caught this at resume before issue 12; receiver.int.test.ts covers it.)
  for (const verify of [undefined, 'tail'] as const) {
    it(`is never published by a local resume (${verify ? `--verify ${verify}` : 'default --verify'})`, async () => {
      const data = randomBytes(SIZE);
      await writeFile(join(dir, 'src'), data);
      await mkdir(join(dir, 'out'));
      await copyKilledMidway(['src', 'out/dst']);
      expect(existsSync(join(dir, 'out', 'dst'))).toBe(false);
      await flipByte(join(dir, 'out', '.dst.ckpt-part'), DAMAGED_OFFSET);
      const rerun = ckpt(['copy', 'src', 'out/dst', '--json', ...INTERVAL, ...(verify ? ['--verify', verify] : [])]);
      expectRestartedAndIdentical(rerun, join(dir, 'out', 'dst'), data);
    }, 60_000);
  }

  it('is never published by a resumed push to a node (--verify tail)', async () => {
    const port = await freePort();
    await prepareLoopbackNode(dir, port);
    const data = randomBytes(SIZE);
    await writeFile(join(dir, 'src'), data);
    server = await startLoopbackNode(dir, port);
    const remote = ['src', 'ckpt://beta/in/dst', '--netmap', 'netmap.yaml', '--node', 'alpha'];
    await copyKilledMidway(remote);
    // The node notices the dead client, records its checkpoint and lets go of the destination.
    const partial = join(dir, 'root', 'in', '.dst.ckpt-part');
    expect(existsSync(partial)).toBe(true);
    await flipByte(partial, DAMAGED_OFFSET);
    const rerun = ckpt(['copy', ...remote, '--json', ...INTERVAL, '--verify', 'tail']);
    expectRestartedAndIdentical(rerun, join(dir, 'root', 'in', 'dst'), data);
  }, 60_000);
});
