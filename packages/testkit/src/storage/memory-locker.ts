import { CheckpointLockedError } from '@ckpt/core';
import type { AcquireOptions, LockHandle, LockOwner, Locker } from '@ckpt/core';

/**
 * An in-process {@link Locker} for simulated disks: a lock is a name in a set. A simulated
 * crash kills the "process", so a harness gives each restart a fresh locker (the dead
 * process's locks die with it, as a real dead owner's lock is taken over).
 */
export class MemoryLocker implements Locker {
  private readonly held = new Map<string, LockOwner>();

  async acquire(file: string, _options: AcquireOptions): Promise<LockHandle> {
    const owner = this.held.get(file);
    if (owner) throw new CheckpointLockedError(file, owner);
    this.held.set(file, { pid: process.pid, host: 'simulated', since: 0 });
    let released = false;
    return {
      compromised: false,
      release: async () => {
        if (released) return;
        released = true;
        this.held.delete(file);
      },
    };
  }

  async owner(file: string): Promise<LockOwner | undefined> {
    return this.held.get(file);
  }
}
