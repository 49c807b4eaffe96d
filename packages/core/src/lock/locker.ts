/**
 * The single-writer lock seam. {@link FileLocker} is the real one (proper-lockfile plus
 * dead-owner takeover); the testkit has an in-memory one for simulated disks.
 */

/** Who holds a lock, as recorded by the holder. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** When the lock was taken, ms since the epoch. */
  readonly since: number;
  /** The holder's process start time (Linux clock ticks since boot), to detect a reused pid. */
  readonly processStart?: number;
}

/** A held lock. */
export interface LockHandle {
  /** True once the lock was lost; the holder must stop writing. */
  readonly compromised: boolean;
  release(): Promise<void>;
}

/** Options of {@link Locker.acquire}. */
export interface AcquireOptions {
  /** How long to wait for a live holder to release, in ms (default 0: fail at once). */
  readonly waitMs?: number;
  /** Called (at most once, never throwing into a timer) when the lock is lost. */
  readonly onCompromised: (error: Error) => void;
}

/** Takes and releases the writer lock of a checkpoint file. */
export interface Locker {
  /** Throws CheckpointLockedError when a live process holds it (after `waitMs`). */
  acquire(file: string, options: AcquireOptions): Promise<LockHandle>;
  /** The current holder, if the file is locked (for `inspect`). */
  owner(file: string): Promise<LockOwner | undefined>;
}
