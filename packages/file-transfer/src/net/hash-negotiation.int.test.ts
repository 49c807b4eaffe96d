import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { firstDifference } from '@ckpt/testkit';
import { InterruptedError } from '@ckpt/core';
import { copyFile } from '../copy-file.js';
import type { TransferEvent } from '../transfer/receiver.js';
import { FramedConnection, type ControlMessage } from './framed-connection.js';
import { loadNetmap, type Netmap } from './netmap.js';
import { NodeServer } from './node-server.js';

let dir: string;
let root: string;
let server: NodeServer;
let netmap: Netmap;
const KiB = 1024;
const DIGEST = { xxh3: /^xxh3-chain:[0-9a-f]{32}$/, sha256: /^sha256-chain:[0-9a-f]{64}$/ } as const;

async function writeNetmap(file: string, port: number): Promise<void> {
  await writeFile(
    file,
    `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "secret-a" }\n  beta: { address: 127.0.0.1:${port}, secret: "secret-b" }\n`,
  );
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-hashnet-'));
  root = join(dir, 'root');
  await mkdir(root);
  await writeNetmap(join(dir, 'server.yaml'), 0);
  server = new NodeServer({
    root,
    host: '127.0.0.1',
    port: 0,
    name: 'beta',
    netmap: loadNetmap(join(dir, 'server.yaml')),
    idleTimeoutMs: 3000,
    pruneEveryMs: 0,
  });
  const { port } = await server.listen();
  await writeNetmap(join(dir, 'client.yaml'), port);
  netmap = loadNetmap(join(dir, 'client.yaml'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * Makes every control message this process sends look like one of revision 4 (before chain
 * hashes were named): no `algorithms` in `ready`, no `algorithm` in `put`, `hash` or `send`.
 * Both ends run in this process, so `side` picks whose messages are rewritten by the op.
 * Returns the messages sent, as sent.
 */
function speakRevision4(ops: readonly string[]): ControlMessage[] {
  const sent: ControlMessage[] = [];
  const original = FramedConnection.prototype.sendControl;
  vi.spyOn(FramedConnection.prototype, 'sendControl').mockImplementation(function (this: FramedConnection, message: ControlMessage) {
    let rewritten = message;
    if (ops.includes(message.op)) {
      const { algorithms: _algorithms, algorithm: _algorithm, ...rest } = message;
      rewritten = rest as ControlMessage;
    }
    sent.push(rewritten);
    return original.call(this, rewritten);
  });
  return sent;
}

describe('the chain hash between nodes (protocol revision 5)', () => {
  it.each(['xxh3', 'sha256'] as const)('pushes and pulls with --hash %s, byte for byte, the node told which hash', async (hash) => {
    const sent = speakRevision4([]);
    const data = randomBytes(300 * KiB + 7);
    await writeFile(join(dir, 'a'), data);
    const pushed = await copyFile({
      source: join(dir, 'a'),
      destination: 'ckpt://beta/a.bin',
      netmap,
      node: 'alpha',
      hash,
      checkpointInterval: 64 * KiB,
    });
    expect(pushed.digest).toMatch(DIGEST[hash]);
    expect(firstDifference(await readFile(join(root, 'a.bin')), data)).toBeUndefined();
    const pulled = await copyFile({ source: 'ckpt://beta/a.bin', destination: join(dir, 'back.bin'), netmap, node: 'alpha', hash });
    expect(pulled.digest).toMatch(DIGEST[hash]);
    expect(firstDifference(await readFile(join(dir, 'back.bin')), data)).toBeUndefined();
    // The node announced what it knows; the client named its choice in the put (SHA-256 too).
    expect(sent.filter((m) => m.op === 'ready').map((m) => m['algorithms'])).toEqual([
      ['xxh3', 'sha256'],
      ['xxh3', 'sha256'],
    ]);
    expect(sent.find((m) => m.op === 'put')?.['algorithm']).toBe(hash);
    // A `send` names the hash only when it is not SHA-256, which every revision assumes.
    expect(sent.filter((m) => m.op === 'send').map((m) => m['algorithm'])).toEqual(hash === 'xxh3' ? ['xxh3', 'xxh3'] : [undefined, undefined]);
  });

  it.each(['xxh3', 'sha256'] as const)('resumes an interrupted pull with --hash %s', async (hash) => {
    const data = randomBytes(900 * KiB);
    await writeFile(join(root, 'r.bin'), data);
    const controller = new AbortController();
    const options = { source: 'ckpt://beta/r.bin', destination: join(dir, 'r.bin'), netmap, node: 'alpha', hash, checkpointInterval: 64 * KiB };
    await expect(
      copyFile({
        ...options,
        retry: { shortRetries: 0, longRetries: 0 },
        signal: controller.signal,
        onProgress: (p) => p.offset >= 500 * KiB && controller.abort(),
      }),
    ).rejects.toBeInstanceOf(InterruptedError);
    const events: TransferEvent[] = [];
    const result = await copyFile({ ...options, onEvent: (e) => events.push(e) });
    expect(result.resumedFrom).toBeGreaterThan(0);
    expect(result.digest).toMatch(DIGEST[hash]);
    expect(events.map((e) => e.type)).not.toContain('transfer/warning');
    expect(firstDifference(await readFile(join(dir, 'r.bin')), data)).toBeUndefined();
  });

  it('a node of revision 4 (no algorithms in its ready) gets SHA-256, and the client says so', async () => {
    // The node's messages are those of revision 4; it is pushed to and pulled from.
    speakRevision4(['ready']);
    const data = randomBytes(200 * KiB);
    await writeFile(join(dir, 'a'), data);
    const events: TransferEvent[] = [];
    const pushed = await copyFile({
      source: join(dir, 'a'),
      destination: 'ckpt://beta/a.bin',
      netmap,
      node: 'alpha',
      onEvent: (e) => events.push(e),
    });
    expect(pushed.digest).toMatch(DIGEST.sha256);
    expect(firstDifference(await readFile(join(root, 'a.bin')), data)).toBeUndefined();
    const pulled = await copyFile({
      source: 'ckpt://beta/a.bin',
      destination: join(dir, 'b.bin'),
      netmap,
      node: 'alpha',
      onEvent: (e) => events.push(e),
    });
    expect(pulled.digest).toMatch(DIGEST.sha256);
    expect(firstDifference(await readFile(join(dir, 'b.bin')), data)).toBeUndefined();
    const warning =
      'node beta knows only the chain hash sha256 (an older ckpt): this copy is checked with sha256; upgrade ckpt on beta for xxh3, or pass --hash sha256';
    expect(events.filter((e) => e.type === 'transfer/warning').map((e) => e['message'])).toEqual([warning, warning]);
  });

  it('a client of revision 4 (no algorithm in its put, hash or send) pushes with SHA-256', async () => {
    speakRevision4(['put', 'hash', 'send']);
    const data = randomBytes(200 * KiB);
    await writeFile(join(dir, 'a'), data);
    const pushed = await copyFile({ source: join(dir, 'a'), destination: 'ckpt://beta/a.bin', netmap, node: 'alpha' });
    expect(pushed.digest).toMatch(DIGEST.sha256);
    expect(firstDifference(await readFile(join(root, 'a.bin')), data)).toBeUndefined();
  });
});
