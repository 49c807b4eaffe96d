import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { CheckpointLockedError, LockCompromisedError } from '../errors.js';
import { Fold } from '../fold/fold.js';
import { Journal } from '../log/journal.js';
import { NodeStorage } from '../storage/node-storage.js';
import { testIdentity, useTempDir } from '../test-support/fixtures.js';
import { FileLocker } from './file-locker.js';

const dir = useTempDir('lock');
const locker = new FileLocker();
const quiet = { onCompromised: () => undefined };

describe('FileLocker', () => {
  it('a second writer is refused at once with the holder pid, host and time', async () => {
    const path = join(dir.path, 'job.ckpt');
    const held = await locker.acquire(path, quiet);
    const started = Date.now();
    const refusal = await locker.acquire(path, quiet).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(CheckpointLockedError);
    expect((refusal as Error).message).toContain(`pid ${process.pid}`);
    expect((refusal as CheckpointLockedError).owner?.pid).toBe(process.pid);
    expect(Date.now() - started).toBeLessThan(5_000);
    await held.release();
    const again = await locker.acquire(path, quiet);
    await again.release();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('waits for a live holder when asked to', async () => {
    const path = join(dir.path, 'job.ckpt');
    const held = await locker.acquire(path, quiet);
    const waiting = locker.acquire(path, { ...quiet, waitMs: 30_000 });
    setImmediate(() => void held.release());
    const taken = await waiting;
    await taken.release();
  });

  it('takes over the lock of a process killed with SIGKILL without waiting out the stale period', async () => {
    const path = join(dir.path, 'job.ckpt');
    const lockerModule = new URL('./file-locker.js', import.meta.url).href.replace('/src/', '/dist/');
    // The child takes the lock, says so, and waits to be killed.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { FileLocker } = await import(${JSON.stringify(lockerModule)}); await new FileLocker({ staleMs: 60000 }).acquire(${JSON.stringify(path)}, { onCompromised() {} }); console.log('locked'); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    expect(chunk.toString()).toContain('locked');
    await expect(locker.acquire(path, quiet)).rejects.toBeInstanceOf(CheckpointLockedError);
    child.kill('SIGKILL');
    await once(child, 'exit');
    const started = Date.now();
    const taken = await new FileLocker({ staleMs: 60_000 }).acquire(path, quiet);
    expect(Date.now() - started).toBeLessThan(2_000);
    await taken.release();
  });

  it('a compromised lock stops the journal with LockCompromisedError, never an uncaught exception', async () => {
    const path = join(dir.path, 'job.ckpt');
    const compromised: Error[] = [];
    const fast = new FileLocker({ staleMs: 2_000, updateMs: 100 });
    const lock = await fast.acquire(path, { onCompromised: (error) => compromised.push(error) });
    const journal = await Journal.create(path, testIdentity(), { storage: new NodeStorage(), fold: new Fold(), lock });
    await journal.append([{ type: 'unit-started', unit: 'a' }]);
    // Someone removes the lock directory from under the writer.
    rmSync(`${path}.lock`, { recursive: true, force: true });
    await expect.poll(() => lock.compromised, { timeout: 10_000, interval: 50 }).toBe(true);
    await expect(journal.append([{ type: 'unit-completed', unit: 'a', outcome: 'success' }])).rejects.toBeInstanceOf(LockCompromisedError);
    expect(journal.failed).toBeInstanceOf(LockCompromisedError);
    expect(compromised).toHaveLength(1);
    await journal.close();
  });
});
