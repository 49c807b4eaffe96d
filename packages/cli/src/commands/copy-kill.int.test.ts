/**
 * `ckpt copy` under the testkit's process-group harness: the sending side is SIGKILLed at a
 * seeded random checkpoint, several times, and rerun until it completes — locally, and pushing
 * to a `ckpt serve` that keeps running (its receiver then resumes on the node).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAndRerun, type KillAndRerunReport } from '@ckpt/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';
import { freePort, prepareLoopbackNode, startLoopbackNode, stopLoopbackNode } from '../test-support/loopback-node.js';

const MAIN = ckptBin();
let dir: string;
let server: ChildProcess | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-copy-kill-'));
  // Like cp, a copy does not create the destination's folder.
  await mkdir(join(dir, 'out'));
});
afterEach(async () => {
  await stopLoopbackNode(server);
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

type Event = Record<string, unknown>;
const eventsOf = (lines: readonly string[]): Event[] => lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Event);
const isCheckpoint = (event: unknown) => (event as Event | null)?.['type'] === 'transfer/checkpoint';

/**
 * Across the runs (each killed within its first few checkpoints, far from the end, so no
 * killed run had completed on the receiving side): every run after a kill resumes (no start-over), never before the last
 * checkpoint the killed run announced (announced means durable), and the last run completes.
 */
function expectResumesNeverGoBack(report: KillAndRerunReport, size: number): void {
  const killed = report.runs.filter((run) => run.killed);
  expect(killed.length, 'runs killed').toBeGreaterThan(0);
  for (let i = 1; i < report.runs.length; i++) {
    const before = eventsOf(report.runs[i - 1]!.stdout);
    const now = eventsOf(report.runs[i]!.stdout);
    const announced = Math.max(0, ...before.filter(isCheckpoint).map((event) => Number(event['offset'])));
    const resumed = now.find((event) => event['type'] === 'transfer/resumed');
    expect(
      now.some((event) => event['type'] === 'transfer/restarted'),
      `run ${i + 1} started over`,
    ).toBe(false);
    if (announced > 0) {
      expect(resumed, `run ${i + 1} resumed`).toBeDefined();
      expect(Number(resumed!['offset']), `run ${i + 1} resumes at or after run ${i}'s last checkpoint`).toBeGreaterThanOrEqual(announced);
    }
  }
  expect(eventsOf(report.final.stdout).at(-1)).toMatchObject({ type: 'transfer-completed', bytes: size });
}

/** `ckpt copy ARGS` at 8 MiB/s, SIGKILLed at its 1st–3rd checkpoint three times, then run to its end. */
function copyKilledThreeTimes(args: readonly string[]): Promise<KillAndRerunReport> {
  return killAndRerun({
    command: process.execPath,
    args: [MAIN, 'copy', ...args, '--json', '--checkpoint-interval', '256KiB'],
    cwd: dir,
    env: { ...process.env, CKPT_COPY_RATE_LIMIT: '8MiB' },
    killOn: isCheckpoint,
    killAtMostAfter: 3,
    kills: 3,
  });
}

describe('ckpt copy killed with SIGKILL at random checkpoints (process-group harness)', () => {
  it('a local copy resumes after each kill and ends with identical bytes', async () => {
    const data = randomBytes(6 * 1024 * 1024);
    await writeFile(join(dir, 'src'), data);
    expectResumesNeverGoBack(await copyKilledThreeTimes(['src', 'out/dst']), data.length);
    expect((await readFile(join(dir, 'out', 'dst'))).equals(data)).toBe(true);
    expect(readdirSync(join(dir, 'out'))).toEqual(['dst']);
  }, 60_000);

  it('a push to a running node resumes on the node after each kill of the client', async () => {
    const port = await freePort();
    await prepareLoopbackNode(dir, port);
    const data = randomBytes(6 * 1024 * 1024);
    await writeFile(join(dir, 'src'), data);
    server = await startLoopbackNode(dir, port);
    expectResumesNeverGoBack(await copyKilledThreeTimes(['src', 'ckpt://beta/in/dst', '--netmap', 'netmap.yaml', '--node', 'alpha']), data.length);
    expect((await readFile(join(dir, 'root', 'in', 'dst'))).equals(data)).toBe(true);
  }, 60_000);
});
