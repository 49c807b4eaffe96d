/**
 * The store contract against FileStore as `ckpt` uses it: real files (NodeStorage) and the real
 * writer lock (FileLocker). A "process" is a FileStore with its own locker; killing it writes a
 * dead pid into the owner record of each lock it holds (as a kill -9 leaves them) and stops its
 * journals (their lock reads compromised). A crash kills every process; a process crash keeps
 * what reached the operating system, so only the simulated-disk run (the .crash test) loses
 * unsynced writes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileLocker, FileStore, type AcquireOptions, type CheckpointStore, type LockHandle, type LockOwner, type Locker } from '@ckpt/core';
import { describeStoreContract } from './store-contract.js';
import type { StoreHarness } from './store-harness.js';

/** A FileLocker that remembers what it holds, so that the harness can kill its holder. */
class KillableLocker implements Locker {
  private readonly inner = new FileLocker();
  readonly held = new Set<string>();
  killed = false;

  async acquire(file: string, options: AcquireOptions): Promise<LockHandle> {
    const handle = await this.inner.acquire(file, options);
    this.held.add(file);
    const locker = this;
    return {
      get compromised() {
        return locker.killed || handle.compromised;
      },
      release: async () => {
        locker.held.delete(file);
        // A killed process releases nothing: its lock stays, with a dead owner.
        if (!locker.killed) await handle.release();
      },
    };
  }

  owner(file: string): Promise<LockOwner | undefined> {
    return this.inner.owner(file);
  }
}

/** The pid of a process that has exited (and been reaped): an owner that is certainly gone. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid!;
}

async function realFileStoreHarness(): Promise<StoreHarness> {
  const root = mkdtempSync(join(tmpdir(), 'ckpt-store-contract-'));
  const lockers = new Map<CheckpointStore, KillableLocker>();
  let names = 0;
  const connect = async () => {
    const locker = new KillableLocker();
    const store = new FileStore({ locker });
    lockers.set(store, locker);
    return store;
  };
  const kill = (locker: KillableLocker) => {
    locker.killed = true;
    const pid = deadPid();
    for (const file of locker.held) {
      const record = join(`${file}.lock`, 'owner.json');
      const owner = JSON.parse(readFileSync(record, 'utf8')) as LockOwner;
      writeFileSync(record, JSON.stringify({ ...owner, pid, processStart: undefined }));
    }
  };
  const walk = (dir: string, out: Buffer[]) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path, out);
      else out.push(readFileSync(path));
    }
  };
  return {
    under: root,
    connect,
    name: (label) => join(root, `${label}-${names++}.ckpt`),
    dump: async () => {
      const out: Buffer[] = [];
      walk(root, out);
      return Buffer.concat(out);
    },
    setLastWrite: async (name, ms) => utimesSync(name, ms / 1000, ms / 1000),
    kill: async (store) => kill(lockers.get(store)!),
    crash: async () => {
      for (const locker of lockers.values()) if (!locker.killed) kill(locker);
      return connect();
    },
    cleanup: async () => rmSync(root, { recursive: true, force: true }),
  };
}

describeStoreContract('FileStore (real files, FileLocker)', realFileStoreHarness, { journalRuns: 10 });
