import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '@ckpt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyFile } from '../copy-file.js';
import type { TransferEvent } from '../transfer/receiver.js';
import { FramedConnection, type ControlMessage } from './framed-connection.js';
import { authenticateServer, NonceCache } from './handshake.js';
import { loadNetmap, type Netmap } from './netmap.js';

// The client's side of the protocol boundary: what a node answers is checked before the client
// returns it, records it or shows it (issue 13: the peer's JSON validated, not cast).

let dir: string;
let server: Server | undefined;
const sockets: Socket[] = [];
let netmap: Netmap;

/** A node `beta` (both sides read one netmap) that authenticates alpha properly, then answers the first request with `answers(request)`. */
async function startFakeNode(answers: (request: ControlMessage) => ControlMessage[]): Promise<void> {
  const node = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    const connection = new FramedConnection(socket, 5_000);
    void (async () => {
      await authenticateServer(connection, netmap.nodes.get('beta')!, netmap, new NonceCache());
      const request = await connection.receiveControl();
      for (const answer of answers(request)) await connection.sendControl(answer);
    })().catch(() => socket.destroy());
  });
  server = node;
  node.listen(0, '127.0.0.1');
  await once(node, 'listening');
  const { port } = node.address() as { port: number };
  await writeFile(
    join(dir, 'netmap.yaml'),
    `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "secret-a" }\n  beta: { address: 127.0.0.1:${port}, secret: "secret-b" }\n`,
  );
  netmap = loadNetmap(join(dir, 'netmap.yaml'));
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-client-'));
  await writeFile(join(dir, 'src.bin'), Buffer.alloc(10, 1));
});
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

const noRetry = { shortRetries: 0, longRetries: 0 };
const push = (onEvent?: (event: TransferEvent) => void) =>
  copyFile({ source: join(dir, 'src.bin'), destination: 'ckpt://beta/out.bin', netmap, node: 'alpha', retry: noRetry, ...(onEvent && { onEvent }) });

describe('a client checks what a node answers', () => {
  it('refuses a push whose done result is malformed, naming the node and the field, without retrying', async () => {
    let requests = 0;
    await startFakeNode(() => (requests++, [{ op: 'done', result: { bytes: 10, sent: 10, resumedFrom: 0, digest: 'not a digest' } }]));
    const pushing = copyFile({
      source: join(dir, 'src.bin'),
      destination: 'ckpt://beta/out.bin',
      netmap,
      node: 'alpha',
      retry: { shortRetries: 2, shortWaitMs: 10, longRetries: 0 },
    });
    await expect(pushing).rejects.toBeInstanceOf(InvalidInputError);
    await expect(pushing).rejects.toThrow(
      /^node beta sent a malformed done: "result\.digest" is not xxh3-chain:<32 hex digits> or sha256-chain:<64 hex digits>/,
    );
    expect(requests).toBe(1);
  });

  it('refuses a push when the node relays a malformed event, and relays a well-formed one rebuilt from its known fields', async () => {
    const chain = 'c'.repeat(64);
    await startFakeNode(() => [
      { op: 'event', event: { type: 'transfer/checkpoint', offset: 4, chain, extra: 'planted' } },
      { op: 'event', event: { type: 'transfer/checkpoint', offset: 'four', chain } },
    ]);
    const events: TransferEvent[] = [];
    await expect(push((event) => events.push(event))).rejects.toThrow(/^node beta sent a malformed event: "event\.offset" is not a byte count/);
    expect(events).toEqual([{ type: 'transfer/checkpoint', offset: 4, chain }]);
  });

  it('refuses a pull whose source answer is malformed, before creating anything', async () => {
    await startFakeNode(() => [{ op: 'source', size: 10, fingerprint: { size: 10, mtimeMs: 1, ino: '1', sample: 'no' } }]);
    const pulling = copyFile({ source: 'ckpt://beta/remote.bin', destination: join(dir, 'pulled.bin'), netmap, node: 'alpha', retry: noRetry });
    await expect(pulling).rejects.toThrow(/^node beta sent a malformed source answer: "fingerprint\.sample" is not a SHA-256 in hex/);
    await expect(rm(join(dir, 'pulled.bin'))).rejects.toThrow(/ENOENT/);
  });
});
