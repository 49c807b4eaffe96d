import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

// Issue 12, item 19: a stop that was asked for is a success for a service manager (systemd
// counts 130 as a failure), so `ckpt serve` exits 0 on SIGINT and SIGTERM.

const MAIN = ckptBin();
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-serve-signal-'));
  await mkdir(join(dir, 'root'));
  await writeFile(
    join(dir, 'netmap.yaml'),
    'nodes:\n  alpha: { address: 127.0.0.1:1, secret: "a-secret" }\n  beta: { address: 127.0.0.1:0, secret: "b-secret" }\n',
  );
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ckpt serve stopped by a signal', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('exits 0 on %s, saying it stopped', async (signal) => {
    const server = spawn(
      process.execPath,
      [MAIN, 'serve', '--root', 'root', '--listen', '127.0.0.1:0', '--name', 'beta', '--netmap', 'netmap.yaml'],
      {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    server.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => server.once('close', (code) => resolve(code)));
    try {
      const until = Date.now() + 20_000;
      while (!/listening on/.test(out) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(out).toMatch(/listening on 127\.0\.0\.1:\d+/);
      server.kill(signal);
      expect(await exited).toBe(0);
      expect(out).toContain(`stopped (${signal})`);
    } finally {
      server.kill('SIGKILL');
    }
  });
});
