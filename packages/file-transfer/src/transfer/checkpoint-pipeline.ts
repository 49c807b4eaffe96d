import { StorageIoError, type CkptEvent, type RunContext, type StorageFile } from '@ckpt/core';
import type { ChainPosition } from './chain-hash.js';

/** Records events for the engine; `announce` tells the caller about events recorded unannounced. */
export interface Emit {
  (events: readonly CkptEvent[], options?: { readonly announce?: boolean }): void;
  announce: (events: readonly CkptEvent[]) => void;
}

/**
 * Checkpoints behind the copy. Each position's data is fdatasynced (one sync at a time, in
 * order, while the copy goes on), then its record is emitted. The records become durable by
 * the journal's group commit while the next data sync runs, and a checkpoint is announced
 * (--json, progress) only once its record is durable: whoever sees it may rely on it.
 */
export class CheckpointPipeline {
  private syncs: Promise<void> = Promise.resolve();
  private announced: Promise<void> = Promise.resolve();
  private pending = 0;
  private failure: Error | undefined;

  constructor(
    private readonly file: StorageFile,
    private readonly path: string,
    private readonly context: RunContext,
    private readonly emit: Emit,
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
        this.emit(checkpoint, { announce: false });
        const durable = this.context.durable().then(
          () => true,
          (error: unknown) => (this.fail(error), false),
        );
        // Announced in order, each once its record is durable.
        this.announced = this.announced.then(async () => {
          if (await durable) this.emit.announce(checkpoint);
        });
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

  /** Settles every queued sync and announcement; never rejects. */
  async drain(): Promise<void> {
    await this.syncs;
    await this.announced;
  }

  /** Throws the first failure of a sync or of the journal. */
  throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private fail(error: unknown): void {
    this.failure ??= error instanceof Error ? error : new Error(String(error));
  }
}

