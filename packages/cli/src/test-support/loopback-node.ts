import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ckptBin } from './ckpt-bin.js';

/** A TCP port free on 127.0.0.1 at the time of asking. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as { port: number };
  await new Promise((done) => probe.close(done));
  return port;
}

/**
 * Prepares `dir` for a node `beta` on 127.0.0.1:`port`: its root folder `root` and a
 * `netmap.yaml` naming it and the client node `alpha`.
 */
export async function prepareLoopbackNode(dir: string, port: number): Promise<void> {
  await mkdir(join(dir, 'root'), { recursive: true });
  await writeFile(
    join(dir, 'netmap.yaml'),
    `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "a-secret" }\n  beta: { address: 127.0.0.1:${port}, secret: "b-secret" }\n`,
  );
}

/** Starts `ckpt serve` as node `beta` in `dir` (see {@link prepareLoopbackNode}) and resolves once it listens. */
export async function startLoopbackNode(dir: string, port: number): Promise<ChildProcess> {
  const node = spawn(
    process.execPath,
    [ckptBin(), 'serve', '--root', 'root', '--listen', `127.0.0.1:${port}`, '--name', 'beta', '--netmap', 'netmap.yaml', '--json'],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((ready, fail) => {
    let out = '';
    node.once('exit', (code) => fail(new Error(`ckpt serve exited with ${code}: ${out}`)));
    node.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('listening')) ready();
    });
  });
  return node;
}

/** Stops a node started by {@link startLoopbackNode} (SIGTERM) and waits for it to close; nothing when it has already ended. */
export async function stopLoopbackNode(node: ChildProcess | undefined): Promise<void> {
  if (node === undefined || node.exitCode !== null || node.signalCode !== null) return;
  const closed = new Promise((done) => node.once('close', done));
  node.kill('SIGTERM');
  await closed;
}
