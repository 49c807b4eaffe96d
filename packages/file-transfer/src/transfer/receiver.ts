import { basename, dirname } from 'node:path';
import { Subscription } from 'rxjs';
import {
  createIdentity,
  defineRunner,
  describeTailTruncation,
  Engine,
  InterruptedError,
  NodeStorage,
  StorageIoError,
  type CkptEvent,
  type FileInfo,
  type JobIdentity,
  type RunContext,
  type RunnerEmitter,
  type RunOptions,
  type RunResult,
  type StorageFile,
} from '@ckpt/core';
import { TransferError } from '../errors.js';
import { ChainHasher, DEFAULT_HASH, formatDigest, LEGACY_HASH, loadChainAlgorithm, type ChainAlgorithm } from './chain-hash.js';
import { CheckpointPipeline } from './checkpoint-pipeline.js';
import { applyAttributes, checkBeforePublish, checkDestination, openPartial, wrapWrite } from './destination.js';
import { checkpointPathOf, partialPathOf, TRANSFER_KIND } from './names.js';
import { finishedBefore, planResume, type ResumePlan } from './resume.js';
import type { SourceInfo } from './source-port.js';
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

import type { ReceiveJob, TransferEvent, TransferNotice, TransferProgress, TransferResult } from './receive-job.js';

export type { ReceiveJob, TransferEvent, TransferNotice, TransferProgress, TransferResult } from './receive-job.js';

/**
 * The receiving side as a core runner: its checkpoint is `dir/.name.ckpt` beside the
 * destination. It records `transfer/*` events (and the data cursor), notifies progress, and
 * completes with the {@link TransferResult}.
 */
export const receiveRunner = defineRunner<ReceiveJob, TransferResult, TransferNotice>({
  kind: TRANSFER_KIND,
  reducers: [transferReducer],
  identify(job): JobIdentity {
    const name = basename(job.destination);
    return createIdentity({ kind: TRANSFER_KIND, id: name, version: 1, structure: { destination: name } });
  },
  run: (job, context, emit) => receive(job, context, emit),
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What one attempt works with, from opening the partial file to publishing it. */
interface Attempt {
  readonly job: ReceiveJob;
  readonly context: RunContext;
  readonly emit: RunnerEmitter<TransferNotice>;
  readonly info: SourceInfo;
  readonly file: StorageFile;
  readonly partialPath: string;
  readonly checkpoints: CheckpointPipeline;
  /** Writes still running, oldest first: the copy goes on while the thread pool writes. */
  readonly writes: Promise<void>[];
}

/** One attempt: plan the resume, copy what is missing, publish. */
async function receive(job: ReceiveJob, context: RunContext, emit: RunnerEmitter<TransferNotice>): Promise<TransferResult> {
  const { destination, source } = job;
  const { storage } = context;
  const partialPath = partialPathOf(destination);
  if (job.retry) emit.record([{ type: 'transfer/retry', ...job.retry }]);
  const info = await source.describe();
  const recorded = transferStateOf(context.startState);
  // The hash of a fresh start, and the one the checkpoint's chain values were computed with.
  const fresh = await loadChainAlgorithm(job.hash ?? DEFAULT_HASH);
  const continued = recorded.fingerprint ? await loadChainAlgorithm(recorded.hash ?? LEGACY_HASH) : fresh;

  const finished = await finishedBefore(storage, destination, partialPath, source, info, recorded, job.interval, fresh);
  if (finished?.how === 'published') {
    emit.record([
      { type: 'transfer/resumed', offset: info.size, size: info.size, verified: 'published' },
      { type: 'transfer/published', size: info.size, digest: finished.digest },
    ]);
    return { bytes: info.size, sent: 0, resumedFrom: info.size, digest: formatDigest(continued.name, finished.digest) };
  }
  if (finished?.how === 'up-to-date') {
    if (job.preserve && storage instanceof NodeStorage) await applyAttributes(destination, info, true);
    emit.record([{ type: 'transfer/up-to-date', size: info.size, digest: finished.digest }]);
    return { bytes: info.size, sent: 0, resumedFrom: info.size, digest: formatDigest(fresh.name, finished.digest) };
  }

  const file = await openPartial(storage, destination, partialPath);
  let closing: Promise<void> | undefined;
  // Closed once: a raw descriptor closed twice might close a file opened since.
  const close = () => (closing ??= file.close());
  const attempt: Attempt = {
    job,
    context,
    emit,
    info,
    file,
    partialPath,
    checkpoints: new CheckpointPipeline(file, partialPath, context, emit),
    writes: [],
  };
  // The re-hash of the part of a resumed prefix the resume agreement did not read (see planResume).
  let prefixCheck: Promise<string | undefined> | undefined;
  let ended = false;
  try {
    const written = await file.info?.();
    let plan: ResumePlan = await planResume(file, source, recorded, info, { ...job, fresh, continued }, () => ended);
    prefixCheck = plan.prefixCheck;
    if (plan.events.length > 0) emit.record(plan.events);
    for (;;) {
      let { hasher, interval } = plan;
      if (!hasher) {
        interval = job.interval;
        hasher = new ChainHasher(0, fresh.seed, interval, fresh);
        emit.record([{ type: 'transfer/started', size: info.size, interval, fingerprint: info.fingerprint, hash: fresh.name }]);
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
        emit.record([{ type: 'transfer/restarted', reason: damage }]);
        plan = { hasher: undefined, interval: job.interval, events: [], prefixCheck: undefined };
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
  readonly algorithm: ChainAlgorithm;
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

  const stream = await job.source.stream(hasher.boundary, interval, start, hasher.algorithm);
  const held = stream.held ?? 0;
  let offset = start;
  const began = Date.now();
  for await (const chunk of stream.chunks) {
    // Aborted by a signal, or because the engine stopped listening (its log failed).
    if (context.signal.aborted) throw new InterruptedError('the copy was interrupted');
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
    attempt.emit.notice({ kind: 'progress', offset, size: info.size, resumedFrom: start, sent: offset - start });
    if (job.rateLimit) {
      const due = began + ((offset - start) / job.rateLimit) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
    }
  }
  if (context.signal.aborted) throw new InterruptedError('the copy was interrupted');
  while (writes.length > 0) await writes.shift();
  await checkpoints.drain();
  checkpoints.throwIfFailed();
  if (offset !== info.size)
    throw new TransferError(`the source ended at ${offset} bytes, ${info.size} were expected; it changed while it was being copied`);
  const final = hasher.finish();
  const theirs = await stream.digest();
  if (theirs !== undefined && theirs !== final.chain) {
    throw new TransferError(`the received data does not match the source (digest ${final.chain.slice(0, 16)}… ≠ ${theirs.slice(0, 16)}…)`);
  }
  return { start, final, algorithm: hasher.algorithm };
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
  emit.record(verified);
  // The verification is durable before the destination appears: a crash after the rename is
  // recognised as complete on rerun.
  await context.durable();
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
  emit.record([{ type: 'transfer/published', size: info.size, digest: final.chain }]);
  return { bytes: info.size, sent: final.offset - start, resumedFrom: start, digest: formatDigest(copied.algorithm.name, final.chain) };
}

/** What a view of a receive is told (the CLI's progress line and --json, a node relaying to its peer). */
export interface ReceiveView {
  /** Each transfer event of this attempt, in order; a checkpoint once its record is durable (see {@link runReceive}). */
  readonly onEvent?: (event: TransferEvent) => void;
  readonly onProgress?: (progress: TransferProgress) => void;
}

/** Options of {@link receiveFile}. */
export interface ReceiveOptions extends ReceiveView {
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
  // XXH3's WebAssembly compiles while the destination is checked (receive awaits the same promise).
  const hashLoaded = loadChainAlgorithm(job.hash ?? DEFAULT_HASH);
  hashLoaded.catch(() => undefined); // awaited below, once the destination's checks passed
  const storage = new NodeStorage();
  await checkDestination(storage, job.destination, options.createFolders === true);
  // A hash that cannot load is refused before the engine creates a checkpoint: the refusal changes nothing on disk.
  await hashLoaded;
  const checkpoint = {
    path: checkpointPathOf(job.destination),
    usage: 'if-exists',
    save: true,
    ...(options.retentionMs !== undefined && { retentionMs: options.retentionMs }),
    ...(options.lockWaitMs !== undefined && { lockWaitMs: options.lockWaitMs }),
  } as const;
  const result = await runReceive(new Engine({ storage }), job, { checkpoint, ...(options.signal && { signal: options.signal }) }, options);
  if (result.outcome !== 'success' || result.result === undefined) throw result.error ?? new TransferError('the transfer ended without a result');
  return result.result;
}

/**
 * Events that promise the data before them survives a crash (a checkpoint, the verification):
 * shown only once the engine tags their record durable. Others are shown as they are recorded.
 */
const SHOWN_ONCE_DURABLE = new Set(['transfer/checkpoint', 'transfer/verified']);

/**
 * Opens `job`'s checkpoint on `engine` and runs it once, telling `view` what happens: the
 * runner's progress notices, and this attempt's `transfer/*` events from the engine's entries,
 * in order, a checkpoint (and everything after it) held until the engine's durable mark passes
 * its record: whoever sees a checkpoint may rely on it. Refusals to open throw.
 */
export async function runReceive(engine: Engine, job: ReceiveJob, options: RunOptions, view: ReceiveView = {}): Promise<RunResult<TransferResult>> {
  const execution = await engine.open(receiveRunner, job, options);
  // Recovery never drops a tail silently: the log records it, and the copy says so (named by
  // the checkpoint's own name: a node relays this to its peer, who has no business with its root).
  const truncated = execution.checkpoint.recovery?.truncatedTail;
  if (truncated !== undefined)
    view.onEvent?.({ type: 'transfer/warning', message: describeTailTruncation(basename(checkpointPathOf(job.destination)), truncated) });
  const { onEvent, onProgress } = view;
  const subscriptions = new Subscription();
  if (onEvent) {
    // This attempt's events not shown yet, oldest first; the first may wait for its durability.
    const held: { readonly seq: number; readonly event: TransferEvent; readonly waits: boolean }[] = [];
    let durableSeq = -1;
    const show = (everything: boolean) => {
      while (held.length > 0 && (everything || !held[0]!.waits || held[0]!.seq <= durableSeq)) onEvent(held.shift()!.event);
    };
    subscriptions.add(
      execution.entries().subscribe({
        next: (entry) => {
          if (entry.replayed || entry.kind !== 'event' || !entry.event.type.startsWith('transfer/')) return;
          // A `transfer/*` event is the namespace's extension event; the engine's time stamp is not shown.
          const { at: _at, ...event } = entry.event as TransferEvent;
          held.push({ seq: entry.seq, event: event as TransferEvent, waits: !entry.durable && SHOWN_ONCE_DURABLE.has(event.type) });
          show(false);
        },
        // A failed log ends the run with that error (run() reports it); what is held was never durable.
        error: () => undefined,
        // The log closes after its last sync: whatever is held is durable now.
        complete: () => show(true),
      }),
    );
    subscriptions.add(
      execution.durableMarks().subscribe({
        next: (seq) => {
          durableSeq = seq;
          show(false);
        },
        error: () => undefined,
      }),
    );
  }
  if (onProgress) subscriptions.add(execution.notices().subscribe(({ kind: _kind, ...progress }) => onProgress(progress)));
  try {
    return await execution.run();
  } finally {
    subscriptions.unsubscribe();
  }
}
