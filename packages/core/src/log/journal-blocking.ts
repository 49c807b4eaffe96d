import { type CkptError, StorageIoError } from '../errors.js';
import type { StorageFile } from '../storage/storage.js';

// The blocking path of JournalWriter's flush loop (journal-writer.ts), kept apart so that the
// writer stays readable: when to take it, the turn itself, and when to give it up for good.

/**
 * A blocking fdatasync slower than this (ms) turns the blocking path off for the rest of the
 * journal's life. While the main thread waits in `fdatasyncSync` nothing else in the process
 * runs: not the lock's refresh timer (lock/file-locker.ts refreshes every 5 s and a lock
 * unrefreshed for 10 s is stale, so a stalled disk could let another host take the checkpoint
 * over), not signal handlers, not exec timeouts. A healthy disk syncs in ~0.1–2 ms; 50 ms means
 * a slow or stalling device, against which the thread-pool round trip the blocking path saves
 * (tens of microseconds) is nothing, and the asynchronous path keeps the event loop running.
 */
export const SLOW_BLOCKING_SYNC_MS = 50;

/** What a blocking turn needs of the writer: its file, its clock and the steps of a flush turn. */
export interface BlockingTurnHost {
  readonly path: string;
  file(): StorageFile;
  /** The journal's clock (JournalOptions.now): times each blocking fdatasync. */
  readonly now: () => number;
  /** Records queued and not yet written. */
  pendingSeqs(): readonly { readonly seq: number }[];
  /** The waiters for durability, in order of seq; `receipt` is set for a durable append. */
  syncWaiters(): readonly { readonly seq: number; readonly receipt: unknown }[];
  /** Frames the queued records for one write at `end()`. */
  frameBatch(): { buffer: Uint8Array; bytes: number; lastSeq: number };
  end(): number;
  written(bytes: number, lastSeq: number): void;
  needsSync(): boolean;
  markSynced(): void;
  fail(error: CkptError): void;
}

/**
 * The blocking path: a durable append alone writes and fdatasyncs on the main thread, until one
 * fdatasync takes longer than {@link SLOW_BLOCKING_SYNC_MS}; from then on every turn is asynchronous.
 */
export class BlockingAppends {
  private slow = false;

  constructor(private readonly host: BlockingTurnHost) {}

  /** True once a blocking fdatasync was slow: the journal no longer blocks. */
  get turnedOff(): boolean {
    return this.slow;
  }

  /**
   * One durable append waits, and the only record to write (if any) is its own: the appender
   * is alone, nobody else's append is waiting to join this turn's write, so the writer may
   * block on the write and the fdatasync instead of paying two thread-pool round trips for
   * them (tens of microseconds each on a busy machine, against an fdatasync of ~0.1–2 ms
   * during which the caller waits either way). Concurrent appenders (two or more waiters, or
   * records queued behind the one) take the asynchronous path, so the event loop keeps running
   * while their batch syncs and the next batch gathers. So does a `sync()` barrier: the engine's
   * runners append buffered and call it while they go on working (a copy hashes and writes its
   * next interval meanwhile), and must not be stopped for the journal's fdatasync. So does
   * every turn after a slow blocking fdatasync (see {@link SLOW_BLOCKING_SYNC_MS}).
   */
  alone(): boolean {
    if (this.slow) return false;
    const waiters = this.host.syncWaiters();
    const pending = this.host.pendingSeqs();
    if (waiters.length !== 1 || pending.length > 1) return false;
    const waiter = waiters[0]!;
    const file = this.host.file();
    return (
      waiter.receipt !== undefined &&
      (pending.length === 0 || pending[0]!.seq === waiter.seq) &&
      file.writeSync !== undefined &&
      file.datasyncSync !== undefined
    );
  }

  /**
   * The body of a flush turn, blocking: write the queued record (if any) and fdatasync if the
   * waiter still needs it. The same bytes, the same errors (and the same fail-stop) as the
   * asynchronous turn. Returns false when the writer failed.
   */
  writeAndSync(): boolean {
    const host = this.host;
    const file = host.file();
    if (host.pendingSeqs().length > 0) {
      const { buffer, bytes, lastSeq } = host.frameBatch();
      try {
        file.writeSync!(buffer, host.end());
      } catch (error) {
        host.fail(new StorageIoError(host.path, 'write', { cause: error }));
        return false;
      }
      host.written(bytes, lastSeq);
    }
    if (host.needsSync()) {
      const started = host.now();
      try {
        file.datasyncSync!();
      } catch (error) {
        host.fail(new StorageIoError(host.path, 'fdatasync', { cause: error }));
        return false;
      }
      if (host.now() - started > SLOW_BLOCKING_SYNC_MS) this.slow = true;
      host.markSynced();
    }
    return true;
  }
}
