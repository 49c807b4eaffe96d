/**
 * One process life at the store boundary, for the runner store contract: the store, its opened
 * checkpoints' logs and the runner's storage as the life sees them. Every store call goes
 * through {@link Life.gate}, which counts it, kills the process at the planned call, and hides
 * answers that come after death; the life records what it sent and what was acknowledged.
 */
import type {
  AppendReceipt,
  CheckpointState,
  CheckpointStore,
  CkptEvent,
  Durability,
  OpenCheckpointOptions,
  OpenedCheckpoint,
  Storage,
  StorageFile,
} from '@ckpt/core';
import { delegateLog } from '../store/delegate-log.js';
import type { StoreHarness } from '../store/store-harness.js';

/**
 * What the runner contract needs of a store's test set-up: a {@link StoreHarness} has it all
 * (the contract uses `connect`, `name`, `crash` and `cleanup` only), so an adapter's store
 * contract harness serves both suites.
 */
export type RunnerStoreHarness = Pick<StoreHarness, 'connect' | 'name' | 'crash' | 'cleanup'>;

/** Where a process dies at the store boundary. */
export interface RunnerStoreCrash {
  /** The store call (0-based, counted in one process life: open, each append, each barrier, close) at which the process dies. */
  readonly at: number;
  /**
   * `before`: the call never reaches the store (a crash between two statements). `during`: it
   * is made and the process dies one event-loop turn later, while it is in flight: the store may
   * or may not apply it. `after`: the store has applied it (committed, synced) and the process
   * dies before the answer arrives (for a call nobody awaits, a buffered append, the life may
   * have gone on meanwhile). Either way it is never acknowledged.
   */
  readonly when: 'before' | 'during' | 'after';
  /** Passed to {@link StoreHarness.crash}: which crash the harness makes (PostgreSQL: killed sessions or a stopped server). */
  readonly seed: number;
}

/** What a dead process's calls get: it has no effects and sees no answers. */
export class ProcessDiedError extends Error {
  readonly code = 'EPROCESSDIED';
  constructor() {
    super('the process died (runner store contract): it sees no answer and does nothing more');
  }
}

/** One record a life sent to its log, in append order. */
interface SentRecord {
  readonly events: readonly CkptEvent[];
}

/**
 * One process life: every store call goes through {@link Life.gate}, which counts it, kills the
 * process at the planned call, and hides answers that come after death.
 */
export class Life {
  /** Set when the planned call killed the process: no more calls, answers or storage access. */
  dead = false;
  calls = 0;
  /** The crash once it started: resolves with the store the harness handed over, for the next life. */
  crashing: Promise<CheckpointStore> | undefined;
  /** The state the checkpoint was opened with (undefined: the open never answered). */
  startState: CheckpointState | undefined;
  readonly sent: SentRecord[] = [];
  /** Index of the last record known durable (-1: none). */
  ackedUpTo = -1;
  /** Everything opened at the store, answered or not, to release once the life is over. */
  readonly opened: OpenedCheckpoint[] = [];
  readonly inFlight: Promise<unknown>[] = [];
  readonly ran = new Map<string, number>();

  constructor(
    private readonly harness: RunnerStoreHarness,
    private readonly crash: RunnerStoreCrash | undefined,
  ) {}

  async gate<T>(call: () => Promise<T>): Promise<T> {
    if (this.dead) throw new ProcessDiedError();
    const index = this.calls++;
    const crash = this.crash;
    if (crash !== undefined && index === crash.at) {
      // Set at once, so that the life's end waits for the crash even when nobody awaits this call.
      this.crashing = (async () => {
        // `after`: the store applies the call; the process dies before its answer arrives.
        if (crash.when === 'after') await call().catch(() => undefined);
        // From now on the process has no effects: set before anything else can run.
        this.dead = true;
        if (crash.when === 'during') {
          this.inFlight.push(call().catch(() => undefined));
          // One turn of the event loop: what the call queued goes out (a store's group commit
          // sends on the next turn), and the crash lands while it is in flight.
          await new Promise((resolve) => setImmediate(resolve));
        }
        // The harness cuts the process's connections synchronously, at the start of its crash.
        return this.harness.crash(crash.seed);
      })();
      await this.crashing.catch(() => undefined);
      throw new ProcessDiedError();
    }
    const promise = call();
    this.inFlight.push(promise.catch(() => undefined));
    const result = await promise;
    if (this.dead) throw new ProcessDiedError();
    return result;
  }
}

/** The log of an opened checkpoint, its appends and barriers gated and recorded. */
function gatedLog(log: OpenedCheckpoint['log'], life: Life): OpenedCheckpoint['log'] {
  return delegateLog(log, {
    append: async (events: readonly CkptEvent[], options?: { readonly durability?: Durability }): Promise<AppendReceipt> => {
      let index = -1;
      const receipt = await life.gate(() => {
        // Sent: recorded in order whether or not the answer comes back.
        index = life.sent.push({ events }) - 1;
        return log.append(events, options);
      });
      if (options?.durability === 'durable') life.ackedUpTo = Math.max(life.ackedUpTo, index);
      return receipt;
    },
    sync: async () => {
      let upTo = -1;
      await life.gate(() => {
        upTo = life.sent.length - 1;
        return log.sync();
      });
      life.ackedUpTo = Math.max(life.ackedUpTo, upTo);
    },
  });
}

/** The store as one process life sees it: `open` and the opened checkpoint's log and close are gated. */
export function gatedStore(store: CheckpointStore, life: Life): CheckpointStore {
  return {
    description: store.description,
    open: (options: OpenCheckpointOptions) =>
      life.gate(async () => {
        const opened = await store.open(options);
        life.opened.push(opened);
        life.startState = opened.startState;
        return {
          ...opened,
          log: gatedLog(opened.log, life),
          close: (closing: { readonly remove: boolean }) => life.gate(() => opened.close(closing)),
        };
      }),
    read: (name, options) => life.gate(() => store.read(name, options)),
    list: (options) => store.list(options),
    prune: (options) => life.gate(() => store.prune(options)),
    delete: (name) => life.gate(() => store.delete(name)),
    close: () => store.close(),
  };
}

/** The runner's storage as one life sees it: a dead process reads and writes nothing more. */
export function mortalStorage(storage: Storage, life: Life): Storage {
  const guard =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (life.dead) throw new ProcessDiedError();
      return call(...args);
    };
  const file = (inner: StorageFile): StorageFile => ({
    path: inner.path,
    size: guard(() => inner.size()),
    read: guard((position: number, length: number) => inner.read(position, length)),
    write: guard((data: Uint8Array, position: number) => inner.write(data, position)),
    truncate: guard((size: number) => inner.truncate(size)),
    ...(inner.info !== undefined && { info: guard(() => inner.info!()) }),
    datasync: guard(() => inner.datasync()),
    // Closing a descriptor is what the kernel does for a dead process too.
    close: () => inner.close(),
  });
  return {
    open: guard(async (path: string, mode: Parameters<Storage['open']>[1]) => file(await storage.open(path, mode))),
    stat: guard((path: string) => storage.stat(path)),
    rename: guard((from: string, to: string) => storage.rename(from, to)),
    unlink: guard((path: string) => storage.unlink(path)),
    mkdir: guard((path: string) => storage.mkdir(path)),
    readdir: guard((path: string) => storage.readdir(path)),
    syncDir: guard((path: string) => storage.syncDir(path)),
    setMtime: guard((path: string, mtimeMs: number) => storage.setMtime(path, mtimeMs)),
  };
}
