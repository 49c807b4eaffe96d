import { basename, dirname } from 'node:path';
import { Observable } from 'rxjs';
import {
  createIdentity,
  describeTailTruncation,
  Engine,
  InterruptedError,
  NodeStorage,
  StorageIoError,
  type CkptEvent,
  type EventEmission,
  type ExtensionEvent,
  type FileInfo,
  type JobIdentity,
  type RunContext,
  type Runner,
  type StorageFile,
} from '@ckpt/core';
import { TransferError } from '../errors.js';
import { CHAIN_SEED, ChainHasher } from './chain-hash.js';
import { CheckpointPipeline, type Emit } from './checkpoint-pipeline.js';
import { applyAttributes, checkBeforePublish, checkDestination, openPartial, wrapWrite } from './destination.js';
import { checkpointPathOf, partialPathOf, TRANSFER_KIND } from './names.js';
import { finishedBefore, planResume, type ResumePlan, type VerifyMode } from './resume.js';
import type { SourceInfo, SourcePort } from './source-port.js';
import { transferReducer, transferStateOf } from './transfer-reducer.js';

/**
 * The receiving side of every transfer, as a core runner. One attempt is three steps:
 * plan the resume (resume.ts: what an earlier attempt left that still verifies), the copy loop
 * (the data written behind the hashing, checkpoints behind the writes: checkpoint-pipeline.ts),
 * and publishing (the verification durable, then the rename: destination.ts).
 */

/** Default bytes between checkpoints: 8 MiB (one fdatasync per 8 MiB costs little; a resume resends at most 8 MiB). */
export const DEFAULT_CHECKPOINT_INTERVAL = 8 * 1024 * 1024;

export type { VerifyMode } from './resume.js';

/** A transfer event as reported to the caller (`transfer/...`). */
export type TransferEvent = ExtensionEvent;

/** Progress of the running attempt. */
export interface TransferProgress {
  readonly offset: number;
  readonly size: number;
  readonly resumedFrom: number;
  readonly sent: number;
}

/** What one successful transfer did. */
export interface TransferResult {
  /** Size of the file. */
  readonly bytes: number;
  /** Bytes sent in the attempt that completed it. */
  readonly sent: number;
  /** Offset the completing attempt resumed from (0 for a fresh start). */
  readonly resumedFrom: number;
  /** The chain digest (see docs/file-transfer.md), `sha256-chain:<hex>`. */
  readonly digest: string;
}

/** One receive: where to, from what, how. */
export interface ReceiveJob {
  /** Absolute path of the destination. */
  readonly destination: string;
  readonly source: SourcePort;
  /** Bytes between checkpoints (0: none; a resume starts over). */
  readonly interval: number;
  readonly verify: VerifyMode;
  /** A retry to record first (the previous attempt failed). */
  readonly retry?: { readonly retry: number; readonly waitMs: number; readonly error: string };
  readonly onEvent?: (event: TransferEvent) => void;
  readonly onProgress?: (progress: TransferProgress) => void;
  /** Bytes per second (test and throttling aid); unlimited when absent. */
  readonly rateLimit?: number;
  /**
   * Give the published file the source's mode and modification time (`--preserve`). Without
   * it the published file gets `0666 & ~umask`, as a file created by cp would.
   */
  readonly preserve?: boolean;
  /** Filled on success. */
  result?: TransferResult;
}

/** The receiving side as a core runner: its checkpoint is `dir/.name.ckpt` beside the destination. */
export const receiveRunner: Runner<ReceiveJob> = {
  kind: TRANSFER_KIND,
  reducers: [transferReducer],
  identify(job): JobIdentity {
    const name = basename(job.destination);
    return createIdentity({ kind: TRANSFER_KIND, id: name, version: 1, structure: { destination: name } });
  },
  run(job, context) {
    return new Observable<EventEmission>((subscriber) => {
      let stopped = false;
      const announce = (events: readonly CkptEvent[]) => {
        for (const event of events) if (event.type.startsWith('transfer/')) job.onEvent?.(event as TransferEvent);
      };
      /** Records `events`; announces them to `onEvent` now, or (`announce: false`) leaves that to the caller. */
      const emit: Emit = Object.assign(
        (events: readonly CkptEvent[], options: { readonly announce?: boolean } = {}) => {
          if (stopped) return;
          subscriber.next(events.length === 1 ? events[0]! : events);
          if (options.announce !== false) announce(events);
        },
        { announce },
      );
      receive(job, context, emit, () => stopped).then(
        (result) => {
          job.result = result;
          subscriber.complete();
        },
        (error: unknown) => subscriber.error(error),
      );
      return () => {
        stopped = true;
      };
    });
  },
};


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What one attempt works with, from opening the partial file to publishing it. */
interface Attempt {
  readonly job: ReceiveJob;
  readonly context: RunContext;
  readonly emit: Emit;
  readonly stopped: () => boolean;
  readonly info: SourceInfo;
  readonly file: StorageFile;
  readonly partialPath: string;
  readonly checkpoints: CheckpointPipeline;
  /** Writes still running, oldest first: the copy goes on while the thread pool writes. */
  readonly writes: Promise<void>[];
}

/** One attempt: plan the resume, copy what is missing, publish. */
async function receive(job: ReceiveJob, context: RunContext, emit: Emit, stopped: () => boolean): Promise<TransferResult> {
  const { destination, source } = job;
  const { storage } = context;
  const partialPath = partialPathOf(destination);
  if (job.retry) emit([{ type: 'transfer/retry', ...job.retry }]);
  const info = await source.describe();
  const recorded = transferStateOf(context.startState);

  const finished = await finishedBefore(storage, destination, partialPath, source, info, recorded, job.interval);
  if (finished?.how === 'published') {
    emit([
      { type: 'transfer/resumed', offset: info.size, size: info.size, verified: 'published' },
      { type: 'transfer/published', size: info.size, digest: finished.digest },
    ]);
    return { bytes: info.size, sent: 0, resumedFrom: info.size, digest: `sha256-chain:${finished.digest}` };
  }
  if (finished?.how === 'up-to-date') {
    if (job.preserve && storage instanceof NodeStorage) await applyAttributes(destination, info, true);
    emit([{ type: 'transfer/up-to-date', size: info.size, digest: finished.digest }]);
    return { bytes: info.size, sent: 0, resumedFrom: info.size, digest: `sha256-chain:${finished.digest}` };
  }

  const file = await openPartial(storage, destination, partialPath);
  let closing: Promise<void> | undefined;
  // Closed once: a raw descriptor closed twice might close a file opened since.
  const close = () => (closing ??= file.close());
  const attempt: Attempt = { job, context, emit, stopped, info, file, partialPath, checkpoints: new CheckpointPipeline(file, partialPath, context, emit), writes: [] };
  // The re-hash of the part of a resumed prefix the resume agreement did not read (see planResume).
  let prefixCheck: Promise<string | undefined> | undefined;
  let ended = false;
  try {
    const written = await file.info?.();
    let plan: ResumePlan = await planResume(file, source, recorded, info, job, () => ended);
    prefixCheck = plan.prefixCheck;
    if (plan.event) emit([plan.event]);
    for (;;) {
      let { hasher, interval } = plan;
      if (!hasher) {
        interval = job.interval;
        hasher = new ChainHasher(0, CHAIN_SEED, interval);
        emit([{ type: 'transfer/started', size: info.size, interval, fingerprint: info.fingerprint }]);
      }
      const copied = await copyLoop(attempt, hasher, interval);
      let damage: string | undefined;
      try {
        damage = await prefixCheck;
      } catch (error) {
        throw new StorageIoError(partialPath, 're-reading the resumed partial data', { cause: error });
      }
      prefixCheck = undefined;
      if (damage !== undefined) {
        // Never published: the whole file is sent again, in this attempt. The restart clears
        // the recorded positions, so a crash from here on cannot resume onto the damage either.
        emit([{ type: 'transfer/restarted', reason: damage }]);
        plan = { hasher: undefined, interval: job.interval, event: undefined, prefixCheck: undefined };
        continue;
      }
      return await publish(attempt, copied, written, close);
    }
  } finally {
    // Whatever ended the attempt, the checkpoints of data already written are recorded first
    // (a stopped transfer resends as little as it can), and no write, sync or read outlives the descriptor.
    ended = true;
    await Promise.allSettled(attempt.writes);
    await attempt.checkpoints.drain();
    await prefixCheck?.catch(() => undefined);
    await close().catch(() => undefined);
  }
}

/** What the copy loop did: from where, and the final chain of the whole file. */
interface Copied {
  readonly start: number;
  readonly final: { readonly offset: number; readonly chain: string };
}

/**
 * Copies the source from `hasher`'s position to its end into the partial file: each chunk is
 * written in the thread pool while this thread hashes it, the checkpoints it crosses are synced
 * and recorded behind the writes, and the whole is checked against the sender's digest.
 */
async function copyLoop(attempt: Attempt, hasher: ChainHasher, interval: number): Promise<Copied> {
  const { job, context, info, file, partialPath, checkpoints, writes } = attempt;
  const start = hasher.position;
  await wrapWrite(partialPath, 'truncating the partial file', file.truncate(start));

  const stream = await job.source.stream(hasher.boundary, interval, start);
  const held = stream.held ?? 0;
  let offset = start;
  const began = Date.now();
  for await (const chunk of stream.chunks) {
    if (context.signal.aborted || attempt.stopped()) throw new InterruptedError('the copy was interrupted');
    checkpoints.throwIfFailed();
    if (offset + chunk.length > info.size) throw new TransferError(`the source grew while it was being copied (more than ${info.size} bytes)`);
    // The write runs in the thread pool while this thread hashes the same bytes, and goes on
    // while the next chunks are read and hashed: a write that stalls does not stall the copy.
    const writing = wrapWrite(partialPath, 'writing the partial file', file.write(chunk, offset));
    writing.catch(() => undefined); // awaited below, in order
    writes.push(writing);
    const crossed = hasher.update(chunk);
    offset += chunk.length;
    if (interval > 0 && crossed.length > 0) {
      const written = Promise.all(writes);
      written.catch(() => undefined); // a failed write is reported by the loop
      for (const position of crossed) checkpoints.add(position, written);
    }
    // The source reuses a chunk's memory once `held` newer ones are asked for.
    while (writes.length > held) await writes.shift();
    // At most two syncs in flight: bounded, and the log never falls far behind the data.
    await checkpoints.throttle(2);
    job.onProgress?.({ offset, size: info.size, resumedFrom: start, sent: offset - start });
    if (job.rateLimit) {
      const due = began + ((offset - start) / job.rateLimit) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
    }
  }
  if (context.signal.aborted) throw new InterruptedError('the copy was interrupted');
  while (writes.length > 0) await writes.shift();
  await checkpoints.drain();
  checkpoints.throwIfFailed();
  if (offset !== info.size) throw new TransferError(`the source ended at ${offset} bytes, ${info.size} were expected; it changed while it was being copied`);
  const final = hasher.finish();
  const theirs = await stream.digest();
  if (theirs !== undefined && theirs !== final.chain) {
    throw new TransferError(`the received data does not match the source (digest ${final.chain.slice(0, 16)}… ≠ ${theirs.slice(0, 16)}…)`);
  }
  return { start, final };
}

/**
 * Publishes the verified partial file: its data synced, its verification (and last checkpoint)
 * durable, then renamed over the destination, which is never seen before that.
 */
async function publish(attempt: Attempt, copied: Copied, written: FileInfo | undefined, close: () => Promise<void>): Promise<TransferResult> {
  const { job, context, emit, info, file, partialPath } = attempt;
  const { storage } = context;
  const { destination } = job;
  const { start, final } = copied;
  await wrapWrite(partialPath, 'fdatasync', file.datasync());
  const last = transferStateOf(context.state).positions.at(-1);
  const verified: CkptEvent[] = [
    ...(last?.offset !== final.offset
      ? [
          { type: 'transfer/checkpoint', offset: final.offset, chain: final.chain } as const,
          { type: 'cursor-set', unit: 'data', cursor: { offset: final.offset, chain: final.chain } } as const,
        ]
      : []),
    { type: 'transfer/verified', digest: final.chain, size: info.size },
  ];
  emit(verified, { announce: false });
  // The verification is durable before the destination appears (a crash after the rename is
  // recognised as complete on rerun), and before the last checkpoint is announced.
  await context.durable();
  emit.announce(verified);
  await wrapWrite(partialPath, 'closing the partial file', close());
  await checkBeforePublish(storage, partialPath, destination, written);
  // Modes and times belong to a real file system (a simulated storage has neither).
  if (storage instanceof NodeStorage) await applyAttributes(partialPath, info, job.preserve === true);
  try {
    await storage.rename(partialPath, destination);
    await storage.syncDir(dirname(destination));
  } catch (error) {
    throw new StorageIoError(destination, 'publishing the destination', { cause: error });
  }
  emit([{ type: 'transfer/published', size: info.size, digest: final.chain }]);
  return { bytes: info.size, sent: final.offset - start, resumedFrom: start, digest: `sha256-chain:${final.chain}` };
}


/** Options of {@link receiveFile}. */
export interface ReceiveOptions {
  readonly signal?: AbortSignal;
  /** Kept this long after the last write when the transfer fails (default 30 days). */
  readonly retentionMs?: number;
  /** How long to wait for another attempt on the same destination to let go (default 0: refuse at once). */
  readonly lockWaitMs?: number;
  /**
   * Create the destination's missing folders (mode 0700), as a node does for a push. Default
   * false: like cp, a missing folder is refused.
   */
  readonly createFolders?: boolean;
}


/**
 * Runs one attempt of a receive through the core engine (lock, journal, retention): resolves
 * with the result or rejects with the error (InterruptedError when `signal` aborted it).
 */
export async function receiveFile(job: ReceiveJob, options: ReceiveOptions = {}): Promise<TransferResult> {
  const storage = new NodeStorage();
  await checkDestination(storage, job.destination, options.createFolders === true);
  const engine = new Engine({ storage });
  const execution = await engine.open(receiveRunner, job, {
    checkpoint: {
      path: checkpointPathOf(job.destination),
      usage: 'if-exists',
      save: true,
      ...(options.retentionMs !== undefined && { retentionMs: options.retentionMs }),
      ...(options.lockWaitMs !== undefined && { lockWaitMs: options.lockWaitMs }),
    },
    ...(options.signal && { signal: options.signal }),
  });
  // Recovery never drops a tail silently: the log records it, and the copy says so (named by
  // the checkpoint's own name: a node relays this to its peer, who has no business with its root).
  const truncated = execution.checkpoint.recovery?.truncatedTail;
  if (truncated !== undefined) job.onEvent?.({ type: 'transfer/warning', message: describeTailTruncation(basename(checkpointPathOf(job.destination)), truncated) });
  const result = await execution.run();
  if (result.outcome !== 'success' || !job.result) throw result.error ?? new TransferError('the transfer ended without a result');
  return job.result;
}
