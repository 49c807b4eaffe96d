import { constants as fsConstants } from 'node:fs';
import { access, mkdir, open, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Observable } from 'rxjs';
import {
  createIdentity,
  describeTailTruncation,
  Engine,
  errorCode,
  InterruptedError,
  InvalidInputError,
  isCkptError,
  NodeStorage,
  NotRegularFileError,
  StorageIoError,
  type CkptEvent,
  type FileInfo,
  type EventEmission,
  type ExtensionEvent,
  type JobIdentity,
  type RunContext,
  type Runner,
  type Storage,
  type StorageFile,
} from '@ckpt/core';
import { TransferError } from '../errors.js';
import { CHAIN_SEED, ChainHasher, type ChainPosition } from './chain-hash.js';
import { fingerprintChange } from './fingerprint.js';
import { checkpointPathOf, partialPathOf, TRANSFER_KIND } from './names.js';
import type { SourceInfo, SourcePort } from './source-port.js';
import { transferReducer, transferStateOf } from './transfer-reducer.js';

/** Default bytes between checkpoints: 8 MiB (one fdatasync per 8 MiB costs little; a resume resends at most 8 MiB). */
export const DEFAULT_CHECKPOINT_INTERVAL = 8 * 1024 * 1024;

/** How much of an already received prefix a resume re-checks. */
export type VerifyMode = 'tail' | 'full';

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
        () => subscriber.complete(),
        (error: unknown) => subscriber.error(error),
      );
      return () => {
        stopped = true;
      };
    });
  },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Records events for the engine; `announce` tells `onEvent` about events recorded unannounced. */
interface Emit {
  (events: readonly CkptEvent[], options?: { readonly announce?: boolean }): void;
  announce: (events: readonly CkptEvent[]) => void;
}

/**
 * Opens (or creates, durably named) the hidden partial file beside the destination. The folder
 * exists (see {@link receiveFile}); storage refuses a partial name that is a symbolic link or
 * not a regular file, so a link planted there cannot redirect the data.
 */
async function openPartial(storage: Storage, destination: string, partialPath: string): Promise<StorageFile> {
  try {
    if (await storage.stat(partialPath)) return await storage.open(partialPath, 'read-write');
    const file = await storage.open(partialPath, 'create-exclusive');
    // Its name is durable before any checkpoint refers to its data.
    await storage.syncDir(dirname(partialPath));
    return file;
  } catch (error) {
    if (isCkptError(error)) throw error;
    const code = errorCode(error);
    if (code === 'EACCES' || code === 'EPERM') {
      throw new InvalidInputError(`cannot write in ${dirname(destination)} (permission denied)`, { hint: 'check the permissions of the destination folder' });
    }
    throw new StorageIoError(partialPath, 'opening the partial file', { cause: error });
  }
}

/**
 * Refuses to publish unless the partial name still holds the file this attempt wrote (same
 * device and inode, a regular file) and the destination name is free or a regular file: the
 * rename must neither publish a file swapped in meanwhile nor replace a link or a folder.
 */
async function checkBeforePublish(storage: Storage, partialPath: string, destination: string, written: FileInfo | undefined): Promise<void> {
  const partial = await storage.stat(partialPath);
  if (!partial?.isFile || (written?.fileId !== undefined && partial.fileId !== written.fileId)) {
    throw new InvalidInputError(`${partialPath} was replaced or removed while the copy ran; nothing was published`, {
      hint: `check what else writes in ${dirname(destination)}, remove ${partialPath}, and rerun`,
    });
  }
  const target = await storage.stat(destination);
  if (target && !target.isFile) throw new NotRegularFileError(destination, target.isSymbolicLink ? 'a symbolic link' : target.isDirectory ? 'a folder' : 'a special file');
}

/**
 * Re-hashes the partial file over `[0, to.offset)` and checks it reaches `to.chain`: the part of
 * a resumed prefix that the resume agreement did not read again. Resolves with the reason it
 * does not (the data was damaged since it was written), or undefined when it does or when
 * `abandoned()` (the attempt ended: a stop must not wait for a long prefix).
 */
async function checkResumedPrefix(file: StorageFile, to: ChainPosition, interval: number, abandoned: () => boolean): Promise<string | undefined> {
  const hasher = new ChainHasher(0, CHAIN_SEED, interval);
  while (hasher.position < to.offset) {
    if (abandoned()) return undefined;
    const bytes = await file.read(hasher.position, Math.min(1 << 20, to.offset - hasher.position));
    if (bytes.length === 0) break;
    hasher.update(bytes);
  }
  if (hasher.position === to.offset && hasher.finish().chain === to.chain) return undefined;
  return `the partial data before ${to.offset} no longer matches what was received (damaged since it was written); nothing was published`;
}

async function receive(job: ReceiveJob, context: RunContext, emit: Emit, stopped: () => boolean): Promise<void> {
  const { destination, source } = job;
  const { storage } = context;
  const partialPath = partialPathOf(destination);
  if (job.retry) emit([{ type: 'transfer/retry', ...job.retry }]);
  const info = await source.describe();
  const recorded = transferStateOf(context.startState);

  // A crash after the rename and before the checkpoint was deleted: the transfer is complete.
  if (recorded.verified && recorded.verified.size === info.size && !(await storage.stat(partialPath))) {
    const published = await storage.stat(destination);
    if (published?.isFile && published.size === info.size && !fingerprintChange(recorded.fingerprint ?? info.fingerprint, info.fingerprint)) {
      emit([
        { type: 'transfer/resumed', offset: info.size, size: info.size, verified: 'published' },
        { type: 'transfer/published', size: info.size, digest: recorded.verified.digest },
      ]);
      job.result = { bytes: info.size, sent: 0, resumedFrom: info.size, digest: `sha256-chain:${recorded.verified.digest}` };
      return;
    }
  }

  // A fresh start onto a destination that already holds the source's bytes sends nothing.
  if (!recorded.fingerprint) {
    const digest = await sameContent(storage, destination, partialPath, source, info.size, job.interval);
    if (digest !== undefined) {
      if (job.preserve && storage instanceof NodeStorage) await applyAttributes(destination, info, true);
      emit([{ type: 'transfer/up-to-date', size: info.size, digest }]);
      job.result = { bytes: info.size, sent: 0, resumedFrom: info.size, digest: `sha256-chain:${digest}` };
      return;
    }
  }

  const file = await openPartial(storage, destination, partialPath);
  let closing: Promise<void> | undefined;
  // Closed once: a raw descriptor closed twice might close a file opened since.
  const close = () => (closing ??= file.close());
  const checkpoints = new CheckpointPipeline(file, partialPath, context, emit);
  // Writes still running, oldest first: the copy goes on while the thread pool writes.
  const writes: Promise<void>[] = [];
  // The re-hash of the part of a resumed prefix the resume agreement did not read (see below).
  let prefixCheck: Promise<string | undefined> | undefined;
  let ended = false;
  try {
    const written = await file.info?.();
    let interval = job.interval;
    // Positioned where this attempt continues: after a verified checkpoint, and after any data
    // received past it that still matches the source.
    let hasher: ChainHasher | undefined;
    let checkpointed = 0;
    let restartReason: string | undefined;
    if (recorded.fingerprint) {
      const change = fingerprintChange(recorded.fingerprint, info.fingerprint);
      if (change) {
        restartReason = change;
      } else if (recorded.positions.length === 0 && recorded.interval === 0) {
        restartReason = 'checkpoints were off, so there is no position to resume from';
      } else {
        // The interval is the one the transfer started with: the chain's segments depend on it.
        interval = recorded.interval ?? interval;
        const agreed =
          recorded.positions.length > 0 ? await newestVerifiedPosition(file, source, recorded.positions, interval, job.verify) : { position: SEED_POSITION, from: SEED_POSITION };
        if ('position' in agreed) {
          checkpointed = agreed.position.offset;
          hasher = await continueVerifiedTail(file, source, agreed.position, info.size, interval);
          if (hasher.position === 0) hasher = undefined;
          // The agreement re-read the partial data from `agreed.from` on; the bytes before it are
          // kept on the strength of their checkpoint alone, and the final chain continues the
          // recorded chain, not those bytes: it matches the sender's even if they were damaged
          // since. Re-hash them too, while the rest arrives, so that what is published is
          // checked end to end whatever --verify says.
          const from = agreed.from;
          if (hasher && from.offset > 0) {
            const checking = checkResumedPrefix(file, from, interval, () => ended);
            checking.catch(() => undefined); // awaited before publishing
            prefixCheck = checking;
          }
        }
        if (!hasher) restartReason = 'reason' in agreed ? agreed.reason : 'no checkpoint was recorded before the previous attempt stopped';
      }
      if (hasher) {
        emit([{ type: 'transfer/resumed', offset: hasher.position, size: info.size, verified: job.verify, checkpoint: checkpointed }]);
      } else {
        emit([{ type: 'transfer/restarted', reason: restartReason ?? 'starting over' }]);
      }
    }
    for (;;) {
      if (!hasher) {
        interval = job.interval;
        hasher = new ChainHasher(0, CHAIN_SEED, interval);
        emit([{ type: 'transfer/started', size: info.size, interval, fingerprint: info.fingerprint }]);
      }
      const start = hasher.position;
      await wrapWrite(partialPath, 'truncating the partial file', file.truncate(start));

      const stream = await source.stream(hasher.boundary, interval, start);
      const held = stream.held ?? 0;
      let offset = start;
      const began = Date.now();
      for await (const chunk of stream.chunks) {
        if (context.signal.aborted || stopped()) throw new InterruptedError('the copy was interrupted');
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
        hasher = undefined;
        continue;
      }
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
      job.result = { bytes: info.size, sent: offset - start, resumedFrom: start, digest: `sha256-chain:${final.chain}` };
      return;
    }
  } finally {
    // Whatever ended the attempt, the checkpoints of data already written are recorded first
    // (a stopped transfer resends as little as it can), and no write, sync or read outlives the descriptor.
    ended = true;
    await Promise.allSettled(writes);
    await checkpoints.drain();
    await prefixCheck?.catch(() => undefined);
    await close().catch(() => undefined);
  }
}

/**
 * Re-hashes the partial data over `[from.offset, to)`, continuing `from`, and checks that the
 * source holds the same bytes there: compared directly when the source reads cheaply (a local
 * file), else by the sender's own hash of the range, computed on its side meanwhile. The
 * hasher stops early where the partial data ends.
 */
async function rehashAgainstSource(
  file: StorageFile,
  source: SourcePort,
  from: ChainPosition,
  to: number,
  interval: number,
): Promise<{ readonly hasher: ChainHasher; readonly sourceMatches: boolean }> {
  const theirs = source.read ? undefined : source.hashRange(from, to, interval);
  theirs?.catch(() => undefined); // awaited below
  const hasher = new ChainHasher(from.offset, from.chain, interval);
  // Both sides' bytes are read at once, one chunk ahead of the hashing.
  const readAt = (at: number) => {
    const length = Math.min(1 << 20, to - at);
    return Promise.all([file.read(at, length), source.read?.(at, length)]);
  };
  let next = hasher.position < to ? readAt(hasher.position) : undefined;
  let sameBytes = true;
  while (next) {
    const [bytes, sourceBytes] = await next;
    if (bytes.length === 0) break;
    const after = hasher.position + bytes.length;
    next = after < to ? readAt(after) : undefined;
    if (sourceBytes && sameBytes) sameBytes = Buffer.compare(sourceBytes, bytes) === 0;
    hasher.update(bytes);
  }
  const complete = hasher.position === to;
  const sourceMatches = theirs ? (await theirs) === hasher.peek() && complete : sameBytes && complete;
  return { hasher, sourceMatches };
}

const SEED_POSITION: ChainPosition = { offset: 0, chain: CHAIN_SEED };

/**
 * The chain digest of `destination` when it already holds exactly the source's bytes, else
 * undefined. Only a regular file of the source's size, with no partial file beside it, is
 * read: its bytes are compared with a local source's, or hashed and compared with the chain a
 * remote sender computes over its own file (the protocol's `hash` op). Size and modification
 * time alone are never trusted: equal content is what lets a rerun send nothing.
 */
async function sameContent(storage: Storage, destination: string, partialPath: string, source: SourcePort, size: number, interval: number): Promise<string | undefined> {
  const existing = await storage.stat(destination);
  if (!existing?.isFile || existing.size !== size || (await storage.stat(partialPath))) return undefined;
  const file = await storage.open(destination, 'read');
  try {
    const { hasher, sourceMatches } = await rehashAgainstSource(file, source, SEED_POSITION, size, interval);
    return sourceMatches ? hasher.finish().chain : undefined;
  } finally {
    await file.close();
  }
}

/** The mode of a file cp would create here: 0666 less the process's umask. */
function umaskMode(): number {
  // process.umask() without an argument reads it (documentation-only deprecation; main thread only).
  return 0o666 & ~process.umask();
}

/**
 * Sets the mode of `path` (the source's under `preserve`, else `0666 & ~umask`) and, under
 * `preserve`, its modification time to the source's. Opened without following a link: the
 * partial name was checked to be this attempt's regular file just before.
 */
async function applyAttributes(path: string, info: SourceInfo, preserve: boolean): Promise<void> {
  let handle;
  try {
    handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    await handle.chmod(preserve && info.mode !== undefined ? info.mode : umaskMode());
    if (preserve) {
      const mtime = info.fingerprint.mtimeNs !== undefined ? Number(BigInt(info.fingerprint.mtimeNs) / 1000n) / 1e6 : info.fingerprint.mtimeMs / 1000;
      await handle.utimes(new Date(), mtime);
    }
  } catch (error) {
    throw new StorageIoError(path, preserve ? "setting the source's mode and modification time" : 'setting the mode', { cause: error });
  } finally {
    await handle?.close();
  }
}

/**
 * A hasher at the end of the data received past `base` that still matches the source, or at
 * `base` when it does not. That data was written but never checkpointed: the receiver was
 * killed, or the sender went away, before its fdatasync. A kill leaves it in the page cache,
 * so the resume sends nothing twice; after a power loss it may be lost or torn, and then the
 * check fails and the copy continues from `base`.
 */
async function continueVerifiedTail(file: StorageFile, source: SourcePort, base: ChainPosition, size: number, interval: number): Promise<ChainHasher> {
  const end = Math.min(await file.size(), size);
  if (end > base.offset) {
    const tail = await rehashAgainstSource(file, source, base, end, interval);
    if (tail.sourceMatches) return tail.hasher;
  }
  return new ChainHasher(base.offset, base.chain, interval);
}

/**
 * The newest recorded position both sides can verify: the receiver's partial data re-hashes to
 * its chain, over the last segment (`tail`) or from 0 (`full`), and the source has the same bytes.
 * `from` is where that re-hash started (the seed for `full`).
 */
async function newestVerifiedPosition(
  file: StorageFile,
  source: SourcePort,
  positions: readonly ChainPosition[],
  interval: number,
  verify: VerifyMode,
): Promise<{ readonly position: ChainPosition; readonly from: ChainPosition } | { readonly reason: string }> {
  const reasons: string[] = [];
  for (let i = positions.length - 1; i >= 0; i--) {
    const position = positions[i]!;
    // The chain just before this position's segment: the previous position, or the seed.
    const before: ChainPosition | undefined =
      verify === 'full' ? SEED_POSITION : (positions[i - 1] ?? (position.offset <= interval || interval === 0 ? SEED_POSITION : undefined));
    if (!before) continue;
    const { hasher, sourceMatches } = await rehashAgainstSource(file, source, before, position.offset, interval);
    if (hasher.position !== position.offset || hasher.peek() !== position.chain) {
      reasons.push(`the partial data before ${position.offset} does not match its checkpoint`);
      continue;
    }
    if (!sourceMatches) {
      reasons.push(`the source's bytes before ${position.offset} differ from what was received`);
      continue;
    }
    return { position, from: before };
  }
  return { reason: reasons[0] ?? 'no recorded position could be verified' };
}

/**
 * Checkpoints behind the copy. Each position's data is fdatasynced (one sync at a time, in
 * order, while the copy goes on), then its record is emitted. The records become durable by
 * the journal's group commit while the next data sync runs, and a checkpoint is announced
 * (--json, progress) only once its record is durable: whoever sees it may rely on it.
 */
class CheckpointPipeline {
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

/** Maps a failed write-side call on the partial file to a StorageIoError naming it. */
async function wrapWrite(path: string, doing: string, operation: Promise<void>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    throw new StorageIoError(path, doing, { cause: error });
  }
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

/** A refusal naming `folder`, for a folder that cannot receive the destination. */
function folderRefusal(folder: string, error: unknown, creating: boolean): Error {
  switch (errorCode(error)) {
    case 'ENOENT':
      return new InvalidInputError(`destination folder ${folder} does not exist; nothing was written`, {
        hint: 'create it first (like cp, ckpt copy does not create folders), or check the path',
      });
    case 'ENOTDIR':
    case 'EEXIST':
      return new InvalidInputError(`${folder} is not a folder; nothing was written`, { hint: 'check the destination path' });
    case 'EACCES':
    case 'EPERM':
      return new InvalidInputError(`cannot ${creating ? 'create' : 'write in'} ${folder} (permission denied); nothing was written`, {
        hint: 'check the permissions of the destination folder, or copy to a folder you may write in',
      });
    case 'EROFS':
      return new InvalidInputError(`cannot write in ${folder} (read-only file system); nothing was written`, { hint: 'copy to a writable folder' });
    default:
      return new StorageIoError(folder, creating ? 'creating the destination folder' : 'checking the destination folder', { cause: error });
  }
}

/**
 * Refuses, before anything is created, a destination whose folder is missing (unless
 * `createFolders`), not a folder or not writable, and a destination or hidden companion name
 * that holds something other than a regular file (a symbolic link planted there, a FIFO, a
 * folder): the refusal names the folder or the file, never an internal lock.
 */
async function checkDestination(storage: Storage, destination: string, createFolders: boolean): Promise<void> {
  const folder = dirname(destination);
  if (createFolders) {
    try {
      await mkdir(folder, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw folderRefusal(folder, error, true);
    }
  }
  try {
    // Follows a link: a destination folder named through a symbolic link is the user's choice.
    if (!(await stat(folder)).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    await access(folder, fsConstants.W_OK | fsConstants.X_OK);
  } catch (error) {
    throw folderRefusal(folder, error, false);
  }
  for (const path of [destination, partialPathOf(destination), checkpointPathOf(destination)]) {
    const info = await storage.stat(path).catch((error: unknown) => {
      throw folderRefusal(folder, error, false);
    });
    if (info?.isSymbolicLink) throw new NotRegularFileError(path, 'a symbolic link');
    if (info?.isDirectory) throw new NotRegularFileError(path, 'a folder');
    if (info && !info.isFile) {
      // A FIFO, socket or device: storage's open (which never blocks) refuses it, naming what it is.
      await (await storage.open(path, 'read')).close();
      throw new NotRegularFileError(path, 'a special file');
    }
  }
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
