import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firstDifference } from '@ckpt/testkit';
import { InvalidInputError } from '@ckpt/core';
import { copyFile } from '../copy-file.js';
import { AuthenticationError, PathRefusedError } from '../errors.js';
import { loadNetmap, type Netmap } from './netmap.js';
import { NodeServer } from './node-server.js';
import { FramedConnection } from './framed-connection.js';
import { authenticateClient } from './handshake.js';

let dir: string;
let root: string;
let server: NodeServer;
let netmap: Netmap;
let clientNetmapFile: string;
const KiB = 1024;

async function writeNetmap(file: string, port: number, secrets: { alpha: string; beta: string }): Promise<void> {
  await writeFile(
    file,
    `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "${secrets.alpha}" }\n  beta: { address: 127.0.0.1:${port}, secret: "${secrets.beta}" }\n`,
  );
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-node-'));
  root = join(dir, 'root');
  await mkdir(root);
  const serverNetmap = join(dir, 'server.yaml');
  await writeNetmap(serverNetmap, 0, { alpha: 'secret-a', beta: 'secret-b' });
  server = new NodeServer({ root, host: '127.0.0.1', port: 0, name: 'beta', netmap: loadNetmap(serverNetmap), idleTimeoutMs: 3000, pruneEveryMs: 0 });
  const { port } = await server.listen();
  clientNetmapFile = join(dir, 'client.yaml');
  await writeNetmap(clientNetmapFile, port, { alpha: 'secret-a', beta: 'secret-b' });
  netmap = loadNetmap(clientNetmapFile);
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const noRetry = { shortRetries: 0, longRetries: 0 };

describe('node server', () => {
  it('pushes and pulls with identical bytes', async () => {
    const data = randomBytes(700 * KiB + 3);
    await writeFile(join(dir, 'a'), data);
    const pushed = await copyFile({
      source: join(dir, 'a'),
      destination: 'ckpt://beta/in/a.bin',
      netmap,
      node: 'alpha',
      checkpointInterval: 64 * KiB,
    });
    expect(pushed).toMatchObject({ bytes: data.length, sent: data.length, resumedFrom: 0 });
    expect(firstDifference(await readFile(join(root, 'in', 'a.bin')), data)).toBeUndefined();
    const pulled = await copyFile({ source: 'ckpt://beta/in/a.bin', destination: join(dir, 'back.bin'), netmap, node: 'alpha' });
    expect(pulled.bytes).toBe(data.length);
    expect(firstDifference(await readFile(join(dir, 'back.bin')), data)).toBeUndefined();
  });

  it('compresses on the wire when asked, with the same bytes and a working resume', async () => {
    const data = Buffer.concat([Buffer.alloc(300 * KiB, 'abc'), randomBytes(100 * KiB)]);
    await writeFile(join(dir, 'a'), data);
    await copyFile({ source: join(dir, 'a'), destination: 'ckpt://beta/z.bin', netmap, node: 'alpha', compress: true, checkpointInterval: 64 * KiB });
    expect(firstDifference(await readFile(join(root, 'z.bin')), data)).toBeUndefined();
    await copyFile({ source: 'ckpt://beta/z.bin', destination: join(dir, 'z.bin'), netmap, node: 'alpha', compress: true });
    expect(firstDifference(await readFile(join(dir, 'z.bin')), data)).toBeUndefined();
  });

  it('refuses a wrong secret at once, without retries, and writes nothing', async () => {
    await writeFile(join(dir, 'a'), 'x');
    const wrong = join(dir, 'wrong.yaml');
    await writeNetmap(wrong, netmap.nodes.get('beta')!.port, { alpha: 'not-the-secret', beta: 'secret-b' });
    const began = Date.now();
    await expect(
      copyFile({
        source: join(dir, 'a'),
        destination: 'ckpt://beta/x',
        netmap: loadNetmap(wrong),
        node: 'alpha',
        retry: { shortRetries: 5, shortWaitMs: 10_000 },
      }),
    ).rejects.toBeInstanceOf(AuthenticationError);
    expect(Date.now() - began).toBeLessThan(5000);
    expect(existsSync(join(root, 'x'))).toBe(false);
    expect(existsSync(join(root, '.x.ckpt'))).toBe(false);
  });

  it('refuses a server that cannot prove its own secret', async () => {
    await writeFile(join(dir, 'a'), 'x');
    const wrong = join(dir, 'wrong.yaml');
    await writeNetmap(wrong, netmap.nodes.get('beta')!.port, { alpha: 'secret-a', beta: 'impostor' });
    await expect(copyFile({ source: join(dir, 'a'), destination: 'ckpt://beta/x', netmap: loadNetmap(wrong), node: 'alpha' })).rejects.toThrow(
      /failed to prove its secret/,
    );
  });

  it('refuses unknown nodes on both sides', async () => {
    await writeFile(join(dir, 'a'), 'x');
    await expect(copyFile({ source: join(dir, 'a'), destination: 'ckpt://gamma/x', netmap, node: 'alpha' })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    const stranger = join(dir, 'stranger.yaml');
    await writeFile(
      stranger,
      `nodes:\n  delta: { address: 127.0.0.1:1, secret: "d" }\n  beta: { address: 127.0.0.1:${netmap.nodes.get('beta')!.port}, secret: "secret-b" }\n`,
    );
    await expect(
      copyFile({ source: join(dir, 'a'), destination: 'ckpt://beta/x', netmap: loadNetmap(stranger), node: 'delta', retry: noRetry }),
    ).rejects.toBeInstanceOf(AuthenticationError);
  });

  it.each([
    ['..', '../escape'],
    ['nested ..', 'in/../../escape'],
    ['absolute', '/etc/passwd'],
    ['encoded dots', '%2e%2e/escape'],
    ['encoded slash', 'in%2f..%2fescape'],
    ['backslash', '..\\escape'],
    ['hidden checkpoint name', '.a.ckpt'],
  ])('refuses a path outside the root (%s) at once', async (_name, path) => {
    await writeFile(join(dir, 'a'), 'x');
    const began = Date.now();
    await expect(
      copyFile({
        source: join(dir, 'a'),
        destination: `ckpt://beta/${path}`,
        netmap,
        node: 'alpha',
        retry: { shortRetries: 3, shortWaitMs: 10_000 },
      }),
    ).rejects.toBeInstanceOf(PathRefusedError);
    expect(Date.now() - began).toBeLessThan(5000);
    expect(existsSync(join(dir, 'escape'))).toBe(false);
  });

  it('refuses symbolic links that lead outside the root, for push and pull', async () => {
    await mkdir(join(dir, 'outside'));
    await writeFile(join(dir, 'outside', 'secret.txt'), 'secret');
    await symlink(join(dir, 'outside'), join(root, 'link'));
    await symlink(join(dir, 'outside', 'secret.txt'), join(root, 'file-link'));
    await writeFile(join(dir, 'a'), 'x');
    await expect(copyFile({ source: join(dir, 'a'), destination: 'ckpt://beta/link/evil', netmap, node: 'alpha' })).rejects.toBeInstanceOf(
      PathRefusedError,
    );
    await expect(copyFile({ source: 'ckpt://beta/file-link', destination: join(dir, 'stolen'), netmap, node: 'alpha' })).rejects.toBeInstanceOf(
      PathRefusedError,
    );
    await expect(copyFile({ source: 'ckpt://beta/link/secret.txt', destination: join(dir, 'stolen'), netmap, node: 'alpha' })).rejects.toBeInstanceOf(
      PathRefusedError,
    );
    expect(existsSync(join(dir, 'outside', 'evil'))).toBe(false);
    expect(existsSync(join(dir, 'stolen'))).toBe(false);
  });

  it('closes only the connection that sends garbage or an oversized frame', async () => {
    const port = netmap.nodes.get('beta')!.port;
    const probe = (bytes: Buffer) =>
      new Promise<void>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port }, () => socket.write(bytes));
        socket.on('close', () => resolve());
        socket.on('error', () => undefined);
        socket.resume();
      });
    const oversized = Buffer.alloc(5);
    oversized.writeUInt32BE(0xfffffff0, 0);
    oversized[4] = 1;
    const garbage = Buffer.concat([Buffer.from([0, 0, 0, 5, 1]), Buffer.from('{{{{')]);
    const data = randomBytes(200 * KiB);
    await writeFile(join(dir, 'a'), data);
    const [, , result] = await Promise.all([
      probe(oversized),
      probe(garbage),
      copyFile({ source: join(dir, 'a'), destination: 'ckpt://beta/ok.bin', netmap, node: 'alpha', retry: noRetry }),
    ]);
    expect(result.bytes).toBe(data.length);
    expect(firstDifference(await readFile(join(root, 'ok.bin')), data)).toBeUndefined();
  });

  it('rejects a replayed handshake (a nonce is remembered once its handshake completed)', async () => {
    const beta = netmap.nodes.get('beta')!;
    const alpha = netmap.nodes.get('alpha')!;
    const nonce = 'ab'.repeat(32);
    // A client whose nonce is fixed: the first handshake completes, the replay is refused.
    const handshake = async () => {
      const socket = connect({ host: '127.0.0.1', port: beta.port });
      await new Promise((r) => socket.once('connect', r));
      const connection = new FramedConnection(socket, 5000);
      try {
        await connection.sendControl({ op: 'hello', protocol: 'ckpt/1', node: 'alpha', peer: 'beta', nonce });
        const challenge = await connection.receiveControl();
        if (challenge.op !== 'challenge') return String(challenge['message']);
        const { createHmac } = await import('node:crypto');
        const proof = createHmac('sha256', alpha.secret)
          .update(['ckpt/1', 'client', nonce, String(challenge['nonce']), 'alpha', 'beta'].join('\0'))
          .digest('hex');
        await connection.sendControl({ op: 'auth', proof });
        return (await connection.receiveControl()).op;
      } finally {
        connection.destroy();
      }
    };
    expect(await handshake()).toBe('ready');
    expect(await handshake()).toContain('replayed');
  });

  it('a push interrupted by the network resumes from the server-side checkpoint', async () => {
    const data = randomBytes(900 * KiB);
    await writeFile(join(dir, 'a'), data);
    const controller = new AbortController();
    await expect(
      copyFile({
        source: join(dir, 'a'),
        destination: 'ckpt://beta/r.bin',
        netmap,
        node: 'alpha',
        checkpointInterval: 64 * KiB,
        retry: noRetry,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.offset >= 500 * KiB) controller.abort();
        },
      }),
    ).rejects.toThrow();
    expect(existsSync(join(root, 'r.bin'))).toBe(false);
    // The server notices the dropped connection and records the failure; then a rerun resumes.
    let result;
    for (let i = 0; i < 50; i++) {
      try {
        result = await copyFile({
          source: join(dir, 'a'),
          destination: 'ckpt://beta/r.bin',
          netmap,
          node: 'alpha',
          checkpointInterval: 64 * KiB,
          retry: noRetry,
        });
        break;
      } catch (error) {
        // The node refuses while it still holds the first push (its message says "being written").
        if ((error as { code?: string }).code !== 'locked') throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    expect(result!.resumedFrom).toBeGreaterThan(0);
    expect(result!.sent).toBe(data.length - result!.resumedFrom);
    expect(firstDifference(await readFile(join(root, 'r.bin')), data)).toBeUndefined();
  });

  it('a shutdown mid-push leaves the transfer resumable on the next server', async () => {
    const data = randomBytes(3 * 1024 * KiB);
    await writeFile(join(dir, 'a'), data);
    let closing: Promise<void> | undefined;
    await expect(
      copyFile({
        source: join(dir, 'a'),
        destination: 'ckpt://beta/s.bin',
        netmap,
        node: 'alpha',
        checkpointInterval: 256 * KiB,
        retry: noRetry,
        // 1 MiB/s: the push takes 3 s, so it cannot finish before the shutdown below starts,
        // however late the first checkpoint's announcement arrives (it is relayed once durable).
        rateLimit: 1024 * KiB,
        // Shut down once the server has announced a durable checkpoint: the sender's progress
        // says nothing about what the receiver recorded (megabytes fit in the socket buffers).
        onEvent: (e) => {
          if (e.type === 'transfer/checkpoint') closing ??= server.close();
        },
      }),
    ).rejects.toThrow();
    await closing;
    expect(existsSync(join(root, 's.bin'))).toBe(false);
    expect(existsSync(join(root, '.s.bin.ckpt'))).toBe(true);
    server = new NodeServer({ root, host: '127.0.0.1', port: 0, name: 'beta', netmap: loadNetmap(join(dir, 'server.yaml')), pruneEveryMs: 0 });
    const { port } = await server.listen();
    await writeNetmap(clientNetmapFile, port, { alpha: 'secret-a', beta: 'secret-b' });
    const result = await copyFile({
      source: join(dir, 'a'),
      destination: 'ckpt://beta/s.bin',
      netmap: loadNetmap(clientNetmapFile),
      node: 'alpha',
      checkpointInterval: 256 * KiB,
    });
    expect(result.resumedFrom).toBeGreaterThan(0);
    expect(firstDifference(await readFile(join(root, 's.bin')), data)).toBeUndefined();
  }, 120_000);

  it('prunes expired partial transfers under its root', async () => {
    const data = randomBytes(600 * KiB);
    await writeFile(join(dir, 'a'), data);
    const controller = new AbortController();
    await expect(
      copyFile({
        source: join(dir, 'a'),
        destination: 'ckpt://beta/p.bin',
        netmap,
        node: 'alpha',
        checkpointInterval: 64 * KiB,
        retry: noRetry,
        signal: controller.signal,
        onProgress: (p) => p.offset > 200 * KiB && controller.abort(),
      }),
    ).rejects.toThrow();
    for (let i = 0; i < 50 && (await server.prune()).kept === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(join(root, '.p.bin.ckpt-part'))).toBe(true);
    const old = new Date(Date.now() - 31 * 24 * 3600 * 1000);
    const { utimes } = await import('node:fs/promises');
    // Wait until the server has released the transfer's lock, then age the checkpoint.
    for (let i = 0; i < 50 && existsSync(join(root, '.p.bin.ckpt.lock')); i++) await new Promise((r) => setTimeout(r, 50));
    await utimes(join(root, '.p.bin.ckpt'), old, old);
    const report = await server.prune();
    expect(report.removed.map((r) => r.removed.length)).toEqual([2]);
    expect(existsSync(join(root, '.p.bin.ckpt-part'))).toBe(false);
  });

  it('disconnects a peer that stalls mid-frame after the idle timeout, keeping the checkpoint', async () => {
    const beta = netmap.nodes.get('beta')!;
    const socket = connect({ host: '127.0.0.1', port: beta.port });
    await new Promise((r) => socket.once('connect', r));
    const connection = new FramedConnection(socket, 10_000);
    await authenticateClient(connection, netmap.nodes.get('alpha')!, beta);
    const fingerprint = { size: 100_000, mtimeMs: 1, ino: '1', sample: '0'.repeat(64) };
    await connection.sendControl({ op: 'put', path: 'stall.bin', size: 100_000, fingerprint, interval: 64 * KiB, verify: 'tail' });
    expect((await connection.receiveControl()).op).toMatch(/event|send/);
    for (;;) {
      const message = await connection.receiveControl();
      if (message.op === 'send') break;
    }
    // Half a data frame, then silence.
    const header = Buffer.alloc(5);
    header.writeUInt32BE(1 + 8192, 0);
    header[4] = 2;
    socket.write(Buffer.concat([header, Buffer.alloc(1000)]));
    const began = Date.now();
    await new Promise((r) => socket.once('close', r));
    expect(Date.now() - began).toBeLessThan(8000);
    expect(existsSync(join(root, 'stall.bin'))).toBe(false);
    // The server still serves others.
    await writeFile(join(dir, 'a'), 'still here');
    await copyFile({ source: join(dir, 'a'), destination: 'ckpt://beta/after.txt', netmap, node: 'alpha' });
    expect(await readFile(join(root, 'after.txt'), 'utf8')).toBe('still here');
  });

  it('retries a node that is down (short retries) and succeeds once it is up, with retry events', async () => {
    const data = randomBytes(100 * KiB);
    await writeFile(join(dir, 'a'), data);
    const port = server.address().port;
    await server.close();
    const events: string[] = [];
    const copying = copyFile({
      source: join(dir, 'a'),
      destination: 'ckpt://beta/late.bin',
      netmap,
      node: 'alpha',
      retry: { shortRetries: 20, shortWaitMs: 200, jitter: 0 },
      onEvent: (e) => events.push(e.type),
    });
    await new Promise((r) => setTimeout(r, 500));
    server = new NodeServer({ root, host: '127.0.0.1', port, name: 'beta', netmap: loadNetmap(join(dir, 'server.yaml')), pruneEveryMs: 0 });
    await server.listen();
    const result = await copying;
    expect(result.bytes).toBe(data.length);
    expect(events).toContain('transfer/retry');
    expect(firstDifference(await readFile(join(root, 'late.bin')), data)).toBeUndefined();
  });

  it('a pull interrupted halfway resumes from the local checkpoint', async () => {
    const data = randomBytes(800 * KiB);
    await writeFile(join(root, 'pull.bin'), data);
    const destination = join(dir, 'pulled.bin');
    const controller = new AbortController();
    await expect(
      copyFile({
        source: 'ckpt://beta/pull.bin',
        destination,
        netmap,
        node: 'alpha',
        checkpointInterval: 64 * KiB,
        retry: noRetry,
        signal: controller.signal,
        onProgress: (p) => p.offset >= 400 * KiB && controller.abort(),
      }),
    ).rejects.toThrow();
    expect(existsSync(destination)).toBe(false);
    const result = await copyFile({ source: 'ckpt://beta/pull.bin', destination, netmap, node: 'alpha', checkpointInterval: 64 * KiB });
    expect(result.resumedFrom).toBeGreaterThanOrEqual(384 * KiB - 64 * KiB);
    expect(result.sent).toBe(data.length - result.resumedFrom);
    expect(firstDifference(await readFile(destination), data)).toBeUndefined();
  });
});
