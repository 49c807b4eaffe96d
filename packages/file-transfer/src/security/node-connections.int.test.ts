import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyFile } from '../copy-file.js';
import { AuthenticationError } from '../errors.js';
import { loadNetmap } from '../net/netmap.js';
import { eventually, startNode, type NodeFixture } from './node-fixture.js';

// Issue 12, items 7, 8 and 17: unauthenticated peers cannot fill the node's connection slots or
// its memory, and cannot learn which node names its netmap holds.

let node: NodeFixture | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await node?.stop();
  node = undefined;
});

const noRetry = { shortRetries: 0, longRetries: 0 };

/** A raw frame with a control message. */
function controlFrame(message: object): Buffer {
  const payload = Buffer.from(JSON.stringify(message));
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length + 1, 0);
  header[4] = 1;
  return Buffer.concat([header, payload]);
}

describe('connections a node accepts', () => {
  it('a good client completes a copy while 300 idle unauthenticated sockets from its own address are open', async () => {
    node = await startNode();
    const fixture = node;
    let closed = 0;
    await Promise.all(
      Array.from(
        { length: 300 },
        () =>
          new Promise<void>((resolve, reject) => {
            const socket = connect({ host: '127.0.0.1', port: fixture.port }, () => resolve());
            socket.on('error', () => undefined).on('close', () => closed++);
            socket.once('error', reject);
            sockets.push(socket);
          }),
      ),
    );
    // Every socket has been accepted (and possibly closed) by the node before the client comes.
    const seen = () => fixture.events.filter((e) => e.type === 'serve/connection').length;
    expect(await eventually(() => seen() + closed >= 300, 10_000)).toBe(true);
    const data = randomBytes(64 * 1024);
    await writeFile(join(fixture.dir, 'a'), data);
    const began = Date.now();
    await copyFile({ source: join(fixture.dir, 'a'), destination: 'ckpt://beta/in/a', netmap: fixture.netmap, node: 'alpha', retry: noRetry });
    expect((await readFile(join(fixture.root, 'in', 'a'))).equals(data)).toBe(true);
    expect(Date.now() - began).toBeLessThan(5_000);
    // The idle ones are held within their budget, not 300.
    expect(fixture.server.connectionCounts.unauthenticated).toBeLessThanOrEqual(16);
  });

  it('closes a connection that does not complete the handshake within 5 s', async () => {
    node = await startNode();
    const socket = connect({ host: '127.0.0.1', port: node.port });
    sockets.push(socket);
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    const began = Date.now();
    // A hello, then silence: the deadline is for the whole handshake, not per message.
    socket.write(controlFrame({ op: 'hello', protocol: 'ckpt/1', node: 'alpha', peer: 'beta', nonce: randomBytes(32).toString('hex') }));
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(Date.now() - began).toBeLessThan(7_000);
    expect(Date.now() - began).toBeGreaterThanOrEqual(4_000);
  });

  it('remembers no nonce for hellos without a proof (2,000 hellos with a known name)', async () => {
    node = await startNode();
    const fixture = node;
    // 20 peers, each sending 100 hellos on fresh connections and never a proof.
    const answered = await Promise.all(
      Array.from({ length: 20 }, async () => {
        let challenges = 0;
        for (let i = 0; i < 100; i++) {
          const socket = connect({ host: '127.0.0.1', port: fixture.port });
          socket.on('error', () => undefined);
          const challenged = new Promise<boolean>((resolve) => {
            socket.on('data', (chunk: Buffer) => resolve(chunk.toString('latin1').includes('"challenge"')));
            socket.on('close', () => resolve(false));
          });
          socket.once('connect', () =>
            socket.write(controlFrame({ op: 'hello', protocol: 'ckpt/1', node: 'alpha', peer: 'beta', nonce: randomBytes(32).toString('hex') })),
          );
          if (await challenged) challenges++;
          socket.destroy();
        }
        return challenges;
      }),
    );
    expect(answered.reduce((a, b) => a + b, 0)).toBe(2000);
    expect(fixture.server.rememberedNonces).toBe(0);
    // A completed handshake is remembered (so a replay of it is refused).
    await writeFile(join(fixture.dir, 'a'), 'a');
    await copyFile({ source: join(fixture.dir, 'a'), destination: 'ckpt://beta/a', netmap: fixture.netmap, node: 'alpha', retry: noRetry });
    expect(fixture.server.rememberedNonces).toBe(1);
  }, 60_000);

  it('gives one error for an unknown node and for a wrong secret, so node names cannot be enumerated', async () => {
    node = await startNode();
    await writeFile(join(node.dir, 'a'), 'a');
    const attempt = async (name: string, secret: string) => {
      const file = join(node!.dir, `${name}.yaml`);
      await writeFile(
        file,
        `nodes:\n  ${name}: { address: 127.0.0.1:1, secret: "${secret}" }\n  beta: { address: 127.0.0.1:${node!.port}, secret: "secret-b" }\n`,
      );
      const error = await copyFile({
        source: join(node!.dir, 'a'),
        destination: 'ckpt://beta/x',
        netmap: loadNetmap(file),
        node: name,
        retry: noRetry,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AuthenticationError);
      return (error as Error).message.split(name).join('NAME');
    };
    const unknown = await attempt('mallory', 'secret-a');
    const wrongSecret = await attempt('alpha', 'a-guess');
    expect(unknown).toBe(wrongSecret);
    expect(unknown).toMatch(/failed to prove its secret/);
  });
});
