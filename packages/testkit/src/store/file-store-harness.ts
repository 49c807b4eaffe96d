import { hostname } from 'node:os';
import { posix } from 'node:path';
import {
  CheckpointLockedError,
  FileStore,
  type AcquireOptions,
  type CheckpointStore,
  type LockHandle,
  type LockOwner,
  type Locker,
} from '@ckpt/core';
import { seededRandom } from '../process/seeded-random.js';
import { SimulatedStorage, type WriteFate } from '../storage/simulated-storage.js';
import type { StoreHarness } from './store-harness.js';

/** A simulated process: killing it makes its locks stale and its lock handles compromised. */
interface SimulatedProcess {
  dead: boolean;
}

interface HeldLock {
  readonly process: SimulatedProcess;
  readonly since: number;
  compromised: boolean;
}

/**
 * The writer locks of simulated processes sharing one simulated disk: a lock of a live process
 * refuses (after `waitMs`), one of a killed process is taken over at once, as {@link FileLocker}
 * does with a dead pid. Owners are recorded as this real process on this host, so that the file
 * store judges them live (there is one real pid for every simulated process).
 */
class SimulatedProcessLocker implements Locker {
  constructor(
    private readonly table: Map<string, HeldLock>,
    private readonly process: SimulatedProcess,
  ) {}

  async acquire(file: string, options: AcquireOptions): Promise<LockHandle> {
    const deadline = Date.now() + (options.waitMs ?? 0);
    for (;;) {
      if (this.process.dead) throw new Error('simulated process is dead');
      const held = this.table.get(file);
      if (held === undefined || held.process.dead) {
        if (held !== undefined) held.compromised = true;
        const lock: HeldLock = { process: this.process, since: Date.now(), compromised: false };
        this.table.set(file, lock);
        const table = this.table;
        return {
          get compromised() {
            return lock.compromised || lock.process.dead;
          },
          release: async () => {
            if (table.get(file) === lock) table.delete(file);
          },
        };
      }
      if (Date.now() >= deadline) throw new CheckpointLockedError(file, { pid: process.pid, host: hostname(), since: held.since });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async owner(file: string): Promise<LockOwner | undefined> {
    const held = this.table.get(file);
    return held === undefined ? undefined : { pid: process.pid, host: hostname(), since: held.since };
  }
}

/**
 * A {@link StoreHarness} of {@link FileStore} on a {@link SimulatedStorage}: processes share the
 * disk and a lock table; `kill` kills one process (its locks go stale, its journal stops
 * writing); `crash` is a power loss of the whole machine, where each write not yet made durable
 * is kept, dropped or torn (garbled) as the seed decides, and unsynced directory changes
 * survive in part.
 */
export async function simulatedFileStoreHarness(): Promise<StoreHarness> {
  const root = '/ckpt';
  let disk = new SimulatedStorage({ now: Date.now });
  await disk.mkdir(root);
  let locks = new Map<string, HeldLock>();
  const processes = new Map<CheckpointStore, SimulatedProcess>();
  let names = 0;
  const connect = async (): Promise<CheckpointStore> => {
    const simulated: SimulatedProcess = { dead: false };
    const store = new FileStore({ storage: disk, locker: new SimulatedProcessLocker(locks, simulated) });
    processes.set(store, simulated);
    return store;
  };
  const walk = async (dir: string, out: Uint8Array[]): Promise<void> => {
    for (const name of (await disk.readdir(dir)).sort()) {
      const path = posix.join(dir, name);
      const info = await disk.stat(path);
      if (info?.isDirectory) await walk(path, out);
      else if (info?.isFile) {
        const file = await disk.open(path, 'read');
        try {
          out.push(await file.read(0, await file.size()));
        } finally {
          await file.close();
        }
      }
    }
  };
  return {
    under: root,
    connect,
    name: (label) => posix.join(root, `${label}-${names++}.ckpt`),
    dump: async () => {
      const parts: Uint8Array[] = [];
      await walk('/', parts);
      return Buffer.concat(parts);
    },
    setLastWrite: (name, ms) => disk.setMtime(name, ms),
    kill: async (store) => {
      const simulated = processes.get(store);
      if (simulated === undefined) throw new Error('kill: a store this harness did not connect');
      simulated.dead = true;
    },
    crash: async (seed) => {
      const random = seededRandom(seed);
      const fates: WriteFate[] = [{ kind: 'keep' }, { kind: 'drop' }, { kind: 'torn', keep: 0 }];
      disk = disk.crash(
        {
          writes: () => {
            const fate = fates[Math.floor(random() * fates.length)]!;
            return fate.kind === 'torn' ? { kind: 'torn', keep: Math.floor(random() * 4096), garble: random() < 0.5 } : fate;
          },
          directories: Array.from({ length: 8 }, () => Math.floor(random() * 8)),
        },
        { now: Date.now },
      );
      for (const simulated of processes.values()) simulated.dead = true;
      locks = new Map();
      return connect();
    },
    cleanup: async () => undefined,
  };
}
