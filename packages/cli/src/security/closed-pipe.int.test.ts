import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fold, Journal, NodeStorage, createIdentity, type CkptEvent } from '@ckpt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

/**
 * Issue 12, item 16: `ckpt copy --json | head -2` and `ckpt events --json | head` died of an
 * unhandled EPIPE with a stack trace. A reader that goes away costs the output, not the job: the
 * verb ends quietly with the exit code of what it did.
 */

const main = ckptBin();
let dir: string;
const children: ChildProcessWithoutNullStreams[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-sec-pipe-'));
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  /** What was read from stdout before it was closed. */
  readonly read: string;
}

/**
 * Runs ckpt with stdout a pipe that this side closes after `lines` lines (0: before reading
 * anything), as `| head -n LINES` does, and waits (bounded) for ckpt to end.
 */
function runIntoClosingPipe(args: readonly string[], lines: number): Promise<Ended> {
  const child = spawn(process.execPath, [main, ...args], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } });
  children.push(child);
  let stderr = '';
  let read = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  if (lines === 0) child.stdout.destroy();
  else {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      read += chunk;
      if (read.split('\n').length > lines) child.stdout.destroy();
    });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`ckpt ${args.join(' ')} did not end within 60 s after its reader went away; stderr: ${stderr}`)),
      60_000,
    );
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, read });
    });
  });
}

/** A checkpoint whose `events --json` output is far beyond a pipe's 64 KiB buffer. */
async function bigCheckpoint(): Promise<string> {
  const path = join(dir, 'big.ckpt');
  const identity = createIdentity({ kind: 'demo', id: 'big', version: 1, structure: ['a'] });
  const journal = await Journal.create(path, identity, { storage: new NodeStorage(), fold: new Fold([], 'count'), compaction: false });
  await journal.append([
    { type: 'attempt-started', attempt: 1 },
    { type: 'unit-started', unit: 'a' },
  ] as CkptEvent[]);
  for (let batch = 0; batch < 10; batch++) {
    const events: CkptEvent[] = [];
    for (let i = 0; i < 1000; i++)
      events.push({ type: 'cursor-set', unit: 'a', cursor: { row: batch * 1000 + i, pad: 'x'.repeat(60) } } as CkptEvent);
    await journal.append(events);
  }
  await journal.close();
  return path;
}

function expectQuietEnd(ended: Ended, code: number) {
  expect(ended.stderr).not.toMatch(/EPIPE|Unhandled|\n\s+at /);
  expect(ended.signal).toBeNull();
  expect(ended.code, ended.stderr).toBe(code);
}

describe('output into a closed pipe', () => {
  it('events --json | head -2: ends quietly with exit 0 after its reader has gone', async () => {
    const path = await bigCheckpoint();
    const ended = await runIntoClosingPipe(['events', path, '--json'], 2);
    expect(ended.read.split('\n')[0]).toContain('"record":"epoch"');
    expectQuietEnd(ended, 0);
  });

  it('events (human view) and inspect into a pipe closed before reading end quietly with exit 0', async () => {
    const path = await bigCheckpoint();
    expectQuietEnd(await runIntoClosingPipe(['events', path], 0), 0);
    expectQuietEnd(await runIntoClosingPipe(['inspect', path, '--json'], 0), 0);
  });

  it('copy --json into a closed pipe finishes the copy (exit 0) without a stack trace', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    writeFileSync(join(dir, 'src.bin'), data);
    mkdirSync(join(dir, 'out')); // like cp, a copy does not create its destination folder
    const ended = await runIntoClosingPipe(['copy', 'src.bin', 'out/dst.bin', '--json', '--checkpoint-interval', '256KiB'], 0);
    expectQuietEnd(ended, 0);
    expect(readFileSync(join(dir, 'out', 'dst.bin')).equals(data)).toBe(true);
  });

  it('run --json | head -1: the run carries on to its end, exit 0, checkpoint deleted', async () => {
    const pkg = join(dir, 'chatty.yaml');
    writeFileSync(
      pkg,
      'id: chatty\nversion: 1\ncheckpoint: { file: chatty.ckpt, usage: if-exists, save: true }\nsteps:\n' +
        '  - { id: talk, exec: [sh, -c, "seq 1 20000"] }\n  - { id: last, exec: [sh, -c, "echo done > last.txt"] }\n',
    );
    const ended = await runIntoClosingPipe(['run', pkg, '--json'], 1);
    expectQuietEnd(ended, 0);
    expect(readFileSync(join(dir, 'last.txt'), 'utf8')).toBe('done\n');
    expect(existsSync(join(dir, 'chatty.ckpt'))).toBe(false);
  });

  it('a refusal with stdout and stderr both closed still exits 2, without a stack trace', async () => {
    const child = spawn(process.execPath, [main, 'inspect', join(dir, 'missing.ckpt')], { cwd: dir });
    children.push(child);
    child.stdout.destroy();
    child.stderr.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code).toBe(2);
  });
});
