import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firstDifference } from '@ckpt/testkit';
import { ckptBin } from '../test-support/ckpt-bin.js';

const MAIN = ckptBin();

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-serve-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ckpt serve', () => {
  it('serves pushes and pulls for the netmap, refuses a wrong secret with exit 2, stops on SIGTERM with 0', async () => {
    await mkdir(join(dir, 'root'));
    await writeFile(
      join(dir, 'server.yaml'),
      'nodes:\n  alpha: { address: 127.0.0.1:1, secret: "a-secret" }\n  beta: { address: 127.0.0.1:0, secret: "b-secret" }\n',
    );
    const server = spawn(
      process.execPath,
      [MAIN, 'serve', '--root', 'root', '--listen', '127.0.0.1:0', '--name', 'beta', '--netmap', 'server.yaml', '--json'],
      {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      const port = await new Promise<number>((resolvePort, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 20_000);
        server.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /"port":(\d+)/.exec(out);
          if (match) {
            clearTimeout(timer);
            resolvePort(Number(match[1]));
          }
        });
      });
      await writeFile(
        join(dir, 'client.yaml'),
        `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "a-secret" }\n  beta: { address: 127.0.0.1:${port}, secret: "b-secret" }\n`,
      );
      await writeFile(
        join(dir, 'wrong.yaml'),
        `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "guess" }\n  beta: { address: 127.0.0.1:${port}, secret: "b-secret" }\n`,
      );
      const data = randomBytes(512 * 1024);
      await writeFile(join(dir, 'a'), data);
      const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      const push = run(['copy', 'a', 'ckpt://beta/in/a', '--netmap', 'client.yaml', '--node', 'alpha', '--json']);
      expect(push.status, push.stderr).toBe(0);
      expect(firstDifference(await readFile(join(dir, 'root', 'in', 'a')), data)).toBeUndefined();
      const pull = run(['copy', 'ckpt://beta/in/a', 'back', '--netmap', 'client.yaml', '--node', 'alpha', '--json']);
      expect(pull.status, pull.stderr).toBe(0);
      expect(firstDifference(await readFile(join(dir, 'back')), data)).toBeUndefined();
      const wrong = run([
        'copy',
        'a',
        'ckpt://beta/in/b',
        '--netmap',
        'wrong.yaml',
        '--node',
        'alpha',
        '--short-retries',
        '3',
        '--short-wait',
        '30s',
      ]);
      expect(wrong.status).toBe(2);
      expect(wrong.stderr).toMatch(/failed to prove its secret/);
      expect(wrong.stderr).not.toContain('b-secret');
      const traversal = run(['copy', 'a', 'ckpt://beta/../escape', '--netmap', 'client.yaml', '--node', 'alpha']);
      expect(traversal.status).toBe(2);
      // A push whose hash cannot load here (no WebAssembly) is refused before the node records anything.
      const noWasm = spawnSync(process.execPath, [MAIN, 'copy', 'a', 'ckpt://beta/in/c', '--netmap', 'client.yaml', '--node', 'alpha'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, NODE_OPTIONS: '--jitless' },
      });
      expect(noWasm.status, noWasm.stderr).toBe(2);
      expect(noWasm.stderr).toMatch(/pass --hash sha256/);
      expect((await readdir(join(dir, 'root', 'in'))).sort()).toEqual(['a']);
    } finally {
      server.kill('SIGTERM');
    }
    const code = await new Promise((r) => server.once('close', r));
    expect(code).toBe(0);
  });
});
