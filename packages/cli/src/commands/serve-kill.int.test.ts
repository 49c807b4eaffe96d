import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';
import { freePort, prepareLoopbackNode, startLoopbackNode } from '../test-support/loopback-node.js';

const MAIN = ckptBin();
let dir: string;
const started: ChildProcess[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-serve-kill-'));
});
afterEach(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** Starts the node and stops it after the test. */
async function serve(port: number): Promise<ChildProcess> {
  const node = await startLoopbackNode(dir, port);
  started.push(node);
  return node;
}

it('kill -9 of the receiving server mid-push: the client retries, the restarted server resumes from its checkpoint', async () => {
  const port = await freePort();
  await prepareLoopbackNode(dir, port);
  const data = randomBytes(64 * 1024 * 1024);
  await writeFile(join(dir, 'a'), data);
  const first = await serve(port);
  const client = spawn(
    process.execPath,
    [
      MAIN,
      'copy',
      'a',
      'ckpt://beta/in/a',
      '--netmap',
      'netmap.yaml',
      '--node',
      'alpha',
      '--json',
      '--checkpoint-interval',
      '1MiB',
      '--short-retries',
      '20',
      '--short-wait',
      '250ms',
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  started.push(client);
  let out = '';
  client.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const clientExit = new Promise<number | null>((done) => client.once('close', done));
  const partial = join(dir, 'root', 'in', '.a.ckpt-part');
  await expect.poll(() => (existsSync(partial) ? statSync(partial).size : 0), { timeout: 60_000, interval: 10 }).toBeGreaterThan(8 * 1024 * 1024);
  first.kill('SIGKILL');
  await new Promise((done) => first.once('close', done));
  const left = statSync(partial).size;
  await serve(port);
  expect(await clientExit, out).toBe(0);
  const lines = out
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(lines.some((line) => line['type'] === 'transfer/retry')).toBe(true);
  expect(lines.at(-1)).toMatchObject({ type: 'transfer-completed', bytes: data.length });
  // The restarted server keeps everything the killed one wrote (it verifies against the
  // client's bytes past the last checkpoint): nothing is sent twice.
  expect(Number(lines.at(-1)!['resumedFrom'])).toBe(left);
  expect((await readFile(join(dir, 'root', 'in', 'a'))).equals(data)).toBe(true);
});
