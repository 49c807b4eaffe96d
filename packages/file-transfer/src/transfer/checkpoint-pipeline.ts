import { StorageIoError, type CkptEvent, type Notice, type RunContext, type RunnerEmitter, type StorageFile } from '@ckpt/core';
import type { ChainPosition } from './chain-hash.js';

/**
 * Checkpoints behind the copy. Each position's data is fdatasynced (one sync at a time, in
 * order, while the copy goes on), then its record is emitted and made durable by the journal's
 * group commit while the next data sync runs. Nothing here announces a checkpoint: a view shows
 * it from the engine's durable entries (see runReceive), so whoever sees it may rely on it.
 */
export class CheckpointPipeline {
  private syncs: Promise<void> = Promise.resolve();
  /** Settles once the last emitted checkpoint's record is durable (or the journal failed). */
  private recorded: Promise<void> = Promise.resolve();
  private pending = 0;
  private failure: Error | undefined;

  constructor(
    private readonly file: StorageFile,
    private readonly path: string,
    private readonly context: RunContext,
    private readonly emit: RunnerEmitter<Notice>,
  ) {}

  /** Queues a checkpoint at `position`, once `written` (the writes of the data before it) resolves. */
  add(position: ChainPosition, written: Promise<unknown>): void {
    this.pending++;
    this.syncs = this.syncs.then(async () => {
      try {
        if (this.failure) return;
        await written;
        try {
          await this.file.datasync();
        } catch (error) {
          throw new StorageIoError(this.path, 'fdatasync', { cause: error });
        }
        const checkpoint: CkptEvent[] = [
          { type: 'transfer/checkpoint', offset: position.offset, chain: position.chain },
          { type: 'cursor-set', unit: 'data', cursor: { offset: position.offset, chain: position.chain } },
        ];
        this.emit.record(checkpoint);
        // Synced now rather than at the attempt's end: a kill resumes from here. Not awaited,
        // so the journal's sync overlaps the next data sync.
        this.recorded = this.context.durable().catch((error: unknown) => this.fail(error));
      } catch (error) {
        this.fail(error);
      } finally {
        this.pending--;
      }
    });
  }

  /** Waits while more than `max` data syncs are queued. */
  async throttle(max: number): Promise<void> {
    if (this.pending > max) await this.syncs;
  }

  /** Settles every queued sync and the durability of every emitted checkpoint; never rejects. */
  async drain(): Promise<void> {
    await this.syncs;
    await this.recorded;
  }

  /** Throws the first failure of a sync or of the journal. */
  throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private fail(error: unknown): void {
    this.failure ??= error instanceof Error ? error : new Error(String(error));
  }
}
