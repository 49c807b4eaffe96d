import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isCkptError } from '@ckpt/core';
import { copyFile } from '../copy-file.js';
import type { TransferEvent } from '../transfer/receiver.js';
import { CHAIN_SEED } from '../transfer/chain-hash.js';
import { FramedConnection } from '../net/framed-connection.js';
import { authenticateServer, NonceCache } from '../net/handshake.js';
import { loadNetmap } from '../net/netmap.js';
import { eventually, startNode, type NodeFixture } from './node-fixture.js';

// Issue 12, items 9, 17 and 18: a stalled pull is cut, errors relayed to a peer say nothing of
// the node's own file system, and two pushes never write one destination at once.

let node: NodeFixture | undefined;
let fake: Server | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
  await new Promise((resolve) => (fake ? fake.close(resolve) : resolve(undefined)));
  fake = undefined;
});

const noRetry = { shortRetries: 0, longRetries: 0 };
const MiB = 1024 * 1024;

describe('transfers on a node', () => {
  it('closes a pull whose client stopped reading once nothing is taken for the write timeout, and frees it', async () => {
    node = await startNode({ writeTimeoutMs: 1_000 });
    const fixture = node;
    // Larger than what the socket buffers on both sides hold, so the node's writes must stall.
    await writeFile(join(fixture.root, 'big.bin'), Buffer.alloc(64 * MiB, 7));
    const connection = await fixture.connectAlpha();
    try {
      await connection.sendControl({ op: 'get', path: 'big.bin' });
      expect((await connection.receiveControl()).op).toBe('source');
      connection.acceptData(true);
      await connection.sendControl({ op: 'send', offset: 0, chain: CHAIN_SEED, interval: 0 });
      // The client now reads nothing more: its receive queue fills and it stops reading the socket.
      const failed = () => fixture.events.some((e) => e.type === 'serve/transfer' && e.op === 'get' && e.outcome === 'failure');
      expect(await eventually(failed, 15_000)).toBe(true);
      const failure = fixture.events.find((e) => e.type === 'serve/transfer' && e.outcome === 'failure');
      expect(failure).toMatchObject({ error: expect.stringMatching(/node alpha .*did not take a frame for 1s/) });
      expect(await eventually(() => fixture.server.connectionCounts.authenticated === 0, 5_000)).toBe(true);
    } finally {
      connection.destroy();
    }
  }, 30_000);

  it('relays errors with paths relative to the root, never the root itself', async () => {
    node = await startNode();
    // The partial-data name of d.bin is taken by a folder (an operator's mistake): the node fails.
    await mkdir(join(node.root, 'in', '.d.bin.ckpt-part'), { recursive: true });
    await writeFile(join(node.dir, 'd'), randomBytes(1000));
    const error = await copyFile({
      source: join(node.dir, 'd'),
      destination: 'ckpt://beta/in/d.bin',
      netmap: node.netmap,
      node: 'alpha',
      retry: noRetry,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/^node beta: /);
    expect(message).toContain('in/.d.bin');
    expect(message).not.toContain(node.root);
    expect(message).not.toContain(node.dir);
  });

  it('names the node, not ?:?, when its connection closes', async () => {
    node = await startNode();
    // A "node" that accepts and hangs up at once.
    fake = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => fake!.listen(0, '127.0.0.1', resolve));
    const port = (fake.address() as { port: number }).port;
    const file = join(node.dir, 'fake.yaml');
    await writeFile(
      file,
      `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "secret-a" }\n  beta: { address: 127.0.0.1:${port}, secret: "secret-b" }\n`,
    );
    await writeFile(join(node.dir, 'a'), 'a');
    const error = await copyFile({
      source: join(node.dir, 'a'),
      destination: 'ckpt://beta/a',
      netmap: loadNetmap(file),
      node: 'alpha',
      retry: noRetry,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error).message).toContain(`node beta (127.0.0.1:${port})`);
    expect((error as Error).message).not.toContain('?:?');
  });

  it('refuses a push to a destination another push is writing at once as locked; the first one wins untouched', async () => {
    node = await startNode();
    const fixture = node;
    const first = randomBytes(2 * MiB);
    const second = randomBytes(2 * MiB);
    await writeFile(join(fixture.dir, 'first'), first);
    await writeFile(join(fixture.dir, 'second'), second);
    let started = false;
    const writing = copyFile({
      source: join(fixture.dir, 'first'),
      destination: 'ckpt://beta/shared.bin',
      netmap: fixture.netmap,
      node: 'alpha',
      retry: noRetry,
      checkpointInterval: 256 * 1024,
      rateLimit: 512 * 1024,
      onEvent: (e: TransferEvent) => void (e.type === 'transfer/started' && (started = true)),
    });
    expect(await eventually(() => started, 10_000)).toBe(true);
    const began = Date.now();
    const refusal = await copyFile({
      source: join(fixture.dir, 'second'),
      destination: 'ckpt://beta/shared.bin',
      netmap: fixture.netmap,
      node: 'alpha',
      retry: noRetry,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - began).toBeLessThan(2_000);
    expect(isCkptError(refusal) && refusal.code).toBe('locked');
    expect((refusal as Error).message).toMatch(/shared\.bin is being written by another transfer/);
    expect((refusal as Error).message).not.toContain(fixture.root);
    await writing;
    expect((await readFile(join(fixture.root, 'shared.bin'))).equals(first)).toBe(true);
  }, 30_000);

  it('a locked refusal is retried per the client policy: the second push runs after the first, never alongside', async () => {
    node = await startNode();
    const fixture = node;
    const first = randomBytes(MiB);
    const second = randomBytes(MiB);
    await writeFile(join(fixture.dir, 'first'), first);
    await writeFile(join(fixture.dir, 'second'), second);
    let started = false;
    const writing = copyFile({
      source: join(fixture.dir, 'first'),
      destination: 'ckpt://beta/turns.bin',
      netmap: fixture.netmap,
      node: 'alpha',
      retry: noRetry,
      rateLimit: 512 * 1024,
      onEvent: (e: TransferEvent) => void (e.type === 'transfer/started' && (started = true)),
    });
    expect(await eventually(() => started, 10_000)).toBe(true);
    const retries: string[] = [];
    await copyFile({
      source: join(fixture.dir, 'second'),
      destination: 'ckpt://beta/turns.bin',
      netmap: fixture.netmap,
      node: 'alpha',
      retry: { shortRetries: 40, shortWaitMs: 200, longRetries: 0, jitter: 0 },
      onEvent: (e: TransferEvent) => void (e.type === 'transfer/retry' && retries.push(String(e.error))),
    });
    // The first push completed with its own bytes; only then did the second one write.
    expect(await writing).toMatchObject({ bytes: MiB, resumedFrom: 0 });
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0]).toMatch(/being written by another transfer/);
    expect((await readFile(join(fixture.root, 'turns.bin'))).equals(second)).toBe(true);
  }, 30_000);

  it('a pushing client refuses a done whose result is not exactly a transfer result (nothing foreign reaches its records)', async () => {
    node = await startNode();
    const fixture = node;
    const serverNetmap = loadNetmap(join(fixture.dir, 'server.yaml'));
    // A node that authenticates properly, then answers a put with a planted result.
    fake = createServer((socket) => {
      const connection = new FramedConnection(socket, 5_000);
      void (async () => {
        await authenticateServer(connection, serverNetmap.nodes.get('beta')!, serverNetmap, new NonceCache());
        const put = await connection.receiveControl();
        let deep: unknown = 'x';
        for (let i = 0; i < 70; i++) deep = [deep];
        await connection.sendControl({ op: 'done', result: { bytes: put['size'], sent: 0, resumedFrom: 0, digest: deep } });
      })().catch(() => socket.destroy());
    });
    await new Promise<void>((resolve) => fake!.listen(0, '127.0.0.1', resolve));
    const port = (fake.address() as { port: number }).port;
    const file = join(fixture.dir, 'planted.yaml');
    await writeFile(
      file,
      `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "secret-a" }\n  beta: { address: 127.0.0.1:${port}, secret: "secret-b" }\n`,
    );
    await writeFile(join(fixture.dir, 'a'), 'abc');
    const outcome = await copyFile({
      source: join(fixture.dir, 'a'),
      destination: 'ckpt://beta/a',
      netmap: loadNetmap(file),
      node: 'alpha',
      retry: noRetry,
    }).then(
      (result) => result,
      (e: unknown) => e,
    );
    expect(isCkptError(outcome) && outcome.code).toBe('invalid');
    expect((outcome as Error).message).toMatch(/malformed done: "result\.digest"/);
  });
});
