import type { CheckpointStore } from '@ckpt/core';

/** What the contract needs from an adapter's test set-up, over one empty store. */
export interface StoreHarness {
  /**
   * A handle on the store as a new process would have it (its own connections, its own locks),
   * over the same data. Each call is another "process"; the suite closes what it connects.
   */
  connect(): Promise<CheckpointStore>;
  /** A checkpoint name unique within this harness, found by `list`/`prune` with {@link StoreHarness.under}. */
  name(label: string): string;
  /** What `list` and `prune` search: files, the harness's folder; a store, a name prefix (or undefined: all of a store of its own). */
  readonly under?: string;
  /**
   * Every byte the store holds, for the secrets check: files, the bytes of every file;
   * PostgreSQL, a `pg_dump` of the schema. Text or bytes.
   */
  dump(): Promise<Uint8Array | string>;
  /** Backdates the last write of checkpoint `name` to `ms` since the epoch (retention). */
  setLastWrite(name: string, ms: number): Promise<void>;
  /**
   * The process behind `store` dies now (kill -9): it calls nothing more, and the store must
   * see its ownership as gone (files: a lock of a dead pid; PostgreSQL: its session ends).
   */
  kill(store: CheckpointStore): Promise<void>;
  /**
   * Everything crashes at once (every process; for files, the machine's power too): what was
   * not made durable may be lost, or kept, or (files) torn, as `seed` chooses when the harness
   * can choose. Returns a handle, as a new process after the restart, over what survived.
   */
  crash(seed: number): Promise<CheckpointStore>;
  /** Removes what the harness made. */
  cleanup(): Promise<void>;
}
