import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCkptError } from '@ckpt/core';
import { copyFile } from '../copy-file.js';
import { startNode, type NodeFixture } from './node-fixture.js';

// Issue 12, items 4 and 11: what a peer sends is checked at the protocol boundary, so that it
// cannot make the node write a record its reader refuses, wedge a destination, or sync per byte.

let node: NodeFixture;
beforeEach(async () => {
  node = await startNode();
});
afterEach(async () => {
  await node.stop();
});

const noRetry = { shortRetries: 0, longRetries: 0 };
const goodFingerprint = (size: number) => ({ size, mtimeMs: 1, mtimeNs: '1000000', ino: '12', sample: 'a'.repeat(64) });

/** Sends one hand-made `put` as alpha and returns the node's first answer. */
async function put(fields: Record<string, unknown>): Promise<Record<string, unknown>> {
  const connection = await node.connectAlpha();
  try {
    await connection.sendControl({
      op: 'put',
      path: 'in/target.bin',
      size: 10,
      fingerprint: goodFingerprint(10),
      interval: 64 * 1024,
      verify: 'tail',
      ...fields,
    });
    for (;;) {
      const answer = await connection.receiveControl();
      if (answer.op !== 'event') return answer;
    }
  } finally {
    connection.destroy();
  }
}

/** Whether a push of fresh bytes to `path` still works, with the bytes arriving. */
async function pushStillWorks(path: string): Promise<void> {
  const data = randomBytes(100 * 1024);
  await writeFile(join(node.dir, 'src.bin'), data);
  await copyFile({
    source: join(node.dir, 'src.bin'),
    destination: `ckpt://beta/${path}`,
    netmap: node.netmap,
    node: 'alpha',
    retry: noRetry,
    checkpointInterval: 64 * 1024,
  });
  expect((await readFile(join(node.root, ...path.split('/')))).equals(data)).toBe(true);
}

describe('a node checks what a peer sends', () => {
  it('refuses a fingerprint nested 70 levels deep, writes nothing, and the destination stays usable', async () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 70; i++) deep = { next: deep };
    const answer = await put({ fingerprint: { ...goodFingerprint(10), extra: deep } });
    expect(answer).toMatchObject({ op: 'error', code: 'invalid' });
    expect(String(answer['message'])).toMatch(/fingerprint\.extra/);
    expect(await readdir(node.root)).toEqual([]);
    await pushStillWorks('in/target.bin');
  });

  it.each([
    ['a field of another type', { fingerprint: { ...goodFingerprint(10), ino: 12 } }, /fingerprint\.ino/],
    ['a sample that is not a SHA-256', { fingerprint: { ...goodFingerprint(10), sample: 'x' } }, /fingerprint\.sample/],
    ['a fingerprint size that differs from size', { fingerprint: goodFingerprint(11) }, /fingerprint\.size/],
    ['a fingerprint that is an array', { fingerprint: [1, 2] }, /fingerprint/],
    ['a size that is not a byte count', { size: -1 }, /"size"/],
    ['a path that is not a string', { path: { nested: 'x' } }, /"path"/],
    ['a verify mode it does not know', { verify: { deep: true } }, /"verify"/],
    ['compress that is not a boolean', { compress: 'yes' }, /"compress"/],
  ])('refuses %s with an invalid error and writes nothing', async (_name, fields, field) => {
    const answer = await put(fields);
    expect(answer).toMatchObject({ op: 'error', code: 'invalid' });
    expect(String(answer['message'])).toMatch(field);
    expect(await readdir(node.root)).toEqual([]);
  });

  it.each([
    ['in/.foo.ckpt/x', 'in/foo'],
    ['.foo.ckpt.lock/x', 'foo'],
    ['in/.foo.ckpt-part/x', 'in/foo'],
    ['.foo.ckpt.lock.takeover/x', 'foo'],
    ['in/.foo.ckpt.compact-0123456789abcdef.tmp/x', 'in/foo'],
  ])('refuses a companion name used as a folder (%s), and a later push to %s works', async (path, later) => {
    await writeFile(join(node.dir, 'x'), 'x');
    const refusal = await copyFile({
      source: join(node.dir, 'x'),
      destination: `ckpt://beta/${path}`,
      netmap: node.netmap,
      node: 'alpha',
      retry: noRetry,
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isCkptError(refusal) && refusal.code).toBe('invalid');
    expect(String((refusal as Error).message)).toMatch(/ckpt's own hidden files/);
    expect(await readdir(node.root)).toEqual([]);
    await pushStillWorks(later);
  });

  it('refuses a checkpoint interval below 64 KiB with a clear error relayed to the peer, before writing anything', async () => {
    await writeFile(join(node.dir, 'small.bin'), randomBytes(4096));
    const refusal = await copyFile({
      source: join(node.dir, 'small.bin'),
      destination: 'ckpt://beta/small.bin',
      netmap: node.netmap,
      node: 'alpha',
      retry: noRetry,
      checkpointInterval: 1,
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isCkptError(refusal) && refusal.code).toBe('invalid');
    expect(String((refusal as Error).message)).toMatch(/interval 1 B is below this node's minimum of 64 KiB/);
    expect(await readdir(node.root)).toEqual([]);
    // 0 (no checkpoints) and the minimum itself are accepted.
    for (const interval of [0, 64 * 1024]) {
      const data = randomBytes(200 * 1024);
      await writeFile(join(node.dir, 'ok.bin'), data);
      await copyFile({
        source: join(node.dir, 'ok.bin'),
        destination: `ckpt://beta/ok-${interval}.bin`,
        netmap: node.netmap,
        node: 'alpha',
        retry: noRetry,
        checkpointInterval: interval,
      });
      expect((await readFile(join(node.root, `ok-${interval}.bin`))).equals(data)).toBe(true);
    }
  });
});
