import type { CkptEvent, Storage, StorageFile } from '@ckpt/core';
import { CHAIN_SEED, ChainHasher, SHA256_CHAIN, type ChainAlgorithm, type ChainPosition } from './chain-hash.js';
import { fingerprintChange } from './fingerprint.js';
import type { SourceInfo, SourcePort } from './source-port.js';
import type { TransferState } from './transfer-reducer.js';

/**
 * Resume verification: what a new attempt may keep of an earlier one. Nothing here writes; each
 * function reads the partial (or published) data and the source, and says where the copy goes on.
 */

/** How much of an already received prefix a resume re-checks. */
export type VerifyMode = 'tail' | 'full';

/** The SHA-256 chain's start: offset 0, the seed. */
export const SEED_POSITION: ChainPosition = { offset: 0, chain: CHAIN_SEED };

/** The chain's start for `algorithm`. */
const seedOf = (algorithm: ChainAlgorithm): ChainPosition => (algorithm === SHA256_CHAIN ? SEED_POSITION : { offset: 0, chain: algorithm.seed });

/** Where an attempt continues, decided before any byte is copied (see {@link planResume}). */
export interface ResumePlan {
  /** Positioned where the copy continues; undefined: start over from 0 with the job's interval. */
  readonly hasher: ChainHasher | undefined;
  /** The interval the chain continues with (the recorded one on a resume: segments depend on it). */
  readonly interval: number;
  /**
   * `transfer/resumed` (with a `transfer/warning` when it continues with another hash than the
   * job's) or `transfer/restarted`, to record; none for a first attempt.
   */
  readonly events: readonly CkptEvent[];
  /**
   * The re-hash of the resumed prefix the agreement did not read again, running meanwhile:
   * resolves with the damage found, or undefined (see {@link checkResumedPrefix}).
   */
  readonly prefixCheck: Promise<string | undefined> | undefined;
}

/**
 * Decides where this attempt continues: after the newest recorded checkpoint both sides can
 * verify, and after any data received past it that still matches the source; or from 0, saying
 * why (the source changed, checkpoints were off, nothing verifies). `abandoned()` tells a
 * prefix check still running that the attempt ended.
 */
export async function planResume(
  file: StorageFile,
  source: SourcePort,
  recorded: TransferState,
  info: SourceInfo,
  job: {
    readonly interval: number;
    readonly verify: VerifyMode;
    /** The hash a fresh start uses, and the one the recorded chain values were computed with (loaded). */
    readonly fresh: ChainAlgorithm;
    readonly continued: ChainAlgorithm;
  },
  abandoned: () => boolean,
): Promise<ResumePlan> {
  if (!recorded.fingerprint) return { hasher: undefined, interval: job.interval, events: [], prefixCheck: undefined };
  const restart = (reason: string): ResumePlan => ({
    hasher: undefined,
    interval: job.interval,
    events: [{ type: 'transfer/restarted', reason }],
    prefixCheck: undefined,
  });
  const change = fingerprintChange(recorded.fingerprint, info.fingerprint);
  if (change) return restart(change);
  if (recorded.positions.length === 0 && recorded.interval === 0) return restart('checkpoints were off, so there is no position to resume from');
  // The hash, like the interval, is the one the transfer started with: the recorded chain values are its.
  const algorithm = job.continued;
  if (source.hashes && !source.hashes.includes(algorithm.name))
    return restart(`the checkpoint's chain hash ${algorithm.name} is unknown to the sender (an older ckpt)`);
  const interval = recorded.interval ?? job.interval;
  const seed = seedOf(algorithm);
  const agreed =
    recorded.positions.length > 0
      ? await newestVerifiedPosition(file, source, recorded.positions, interval, job.verify, algorithm)
      : { position: seed, from: seed };
  if (!('position' in agreed)) return restart(agreed.reason);
  const hasher = await continueVerifiedTail(file, source, agreed.position, info.size, interval, algorithm);
  if (hasher.position === 0) return restart('no checkpoint was recorded before the previous attempt stopped');
  // The agreement re-read the partial data from `agreed.from` on; the bytes before it are kept
  // on the strength of their checkpoint alone, and the final chain continues the recorded chain,
  // not those bytes: it matches the sender's even if they were damaged since. Re-hash them too,
  // while the rest arrives, so that what is published is checked end to end whatever --verify says.
  let prefixCheck: Promise<string | undefined> | undefined;
  if (agreed.from.offset > 0) {
    prefixCheck = checkResumedPrefix(file, agreed.from, interval, algorithm, abandoned);
    prefixCheck.catch(() => undefined); // awaited before publishing
  }
  const event: CkptEvent = {
    type: 'transfer/resumed',
    offset: hasher.position,
    size: info.size,
    verified: job.verify,
    checkpoint: agreed.position.offset,
  };
  const events: CkptEvent[] = [event];
  if (algorithm.name !== job.fresh.name)
    events.push({
      type: 'transfer/warning',
      message: `resuming with the chain hash ${algorithm.name}, the one this copy started with; ${job.fresh.name} applies to a copy that starts over`,
    });
  return { hasher, interval, events, prefixCheck };
}

/**
 * The chain digest of what an earlier run already finished, or undefined: the destination was
 * published and only the checkpoint's deletion was lost (`published`), or, on a first attempt,
 * the destination already holds exactly the source's bytes (`up-to-date`).
 */
export async function finishedBefore(
  storage: Storage,
  destination: string,
  partialPath: string,
  source: SourcePort,
  info: SourceInfo,
  recorded: TransferState,
  interval: number,
  /** The hash of a fresh start: the one an equal destination is checked with. */
  algorithm: ChainAlgorithm,
): Promise<{ readonly how: 'published' | 'up-to-date'; readonly digest: string } | undefined> {
  // A crash after the rename and before the checkpoint was deleted: the transfer is complete.
  if (recorded.verified && recorded.verified.size === info.size && !(await storage.stat(partialPath))) {
    const published = await storage.stat(destination);
    if (published?.isFile && published.size === info.size && !fingerprintChange(recorded.fingerprint ?? info.fingerprint, info.fingerprint)) {
      return { how: 'published', digest: recorded.verified.digest };
    }
  }
  // A fresh start onto a destination that already holds the source's bytes sends nothing.
  if (!recorded.fingerprint) {
    const digest = await sameContent(storage, destination, partialPath, source, info.size, interval, algorithm);
    if (digest !== undefined) return { how: 'up-to-date', digest };
  }
  return undefined;
}

/**
 * Re-hashes the partial file over `[0, to.offset)` and checks it reaches `to.chain`: the part of
 * a resumed prefix that the resume agreement did not read again. Resolves with the reason it
 * does not (the data was damaged since it was written), or undefined when it does or when
 * `abandoned()` (the attempt ended: a stop must not wait for a long prefix).
 */
async function checkResumedPrefix(
  file: StorageFile,
  to: ChainPosition,
  interval: number,
  algorithm: ChainAlgorithm,
  abandoned: () => boolean,
): Promise<string | undefined> {
  const hasher = new ChainHasher(0, algorithm.seed, interval, algorithm);
  while (hasher.position < to.offset) {
    if (abandoned()) return undefined;
    const bytes = await file.read(hasher.position, Math.min(1 << 20, to.offset - hasher.position));
    if (bytes.length === 0) break;
    hasher.update(bytes);
  }
  if (hasher.position === to.offset && hasher.finish().chain === to.chain) return undefined;
  return `the partial data before ${to.offset} no longer matches what was received (damaged since it was written); nothing was published`;
}

/**
 * Re-hashes the partial data over `[from.offset, to)`, continuing `from`, and checks that the
 * source holds the same bytes there: compared directly when the source reads cheaply (a local
 * file), else by the sender's own hash of the range, computed on its side meanwhile. The
 * hasher stops early where the partial data ends. With `prefix`, a local source's bytes are
 * compared up to the first byte that differs: the hasher stops there and the prefix before it
 * counts as matching (only bytes compared equal are hashed).
 */
async function rehashAgainstSource(
  file: StorageFile,
  source: SourcePort,
  from: ChainPosition,
  to: number,
  interval: number,
  algorithm: ChainAlgorithm,
  prefix = false,
): Promise<{ readonly hasher: ChainHasher; readonly sourceMatches: boolean }> {
  const theirs = source.read ? undefined : source.hashRange(from, to, interval, algorithm);
  theirs?.catch(() => undefined); // awaited below
  const hasher = new ChainHasher(from.offset, from.chain, interval, algorithm);
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
    if (!sameBytes && prefix && sourceBytes) {
      hasher.update(bytes.subarray(0, firstDifference(bytes, sourceBytes)));
      return { hasher, sourceMatches: true };
    }
    hasher.update(bytes);
  }
  const complete = hasher.position === to;
  const sourceMatches = theirs ? (await theirs) === hasher.peek() && complete : sameBytes && complete;
  return { hasher, sourceMatches };
}

/**
 * The chain digest of `destination` when it already holds exactly the source's bytes, else
 * undefined. Only a regular file of the source's size, with no partial file beside it, is
 * read: its bytes are compared with a local source's, or hashed and compared with the chain a
 * remote sender computes over its own file (the protocol's `hash` op). Size and modification
 * time alone are never trusted: equal content is what lets a rerun send nothing.
 */
async function sameContent(
  storage: Storage,
  destination: string,
  partialPath: string,
  source: SourcePort,
  size: number,
  interval: number,
  algorithm: ChainAlgorithm,
): Promise<string | undefined> {
  const existing = await storage.stat(destination);
  if (!existing?.isFile || existing.size !== size || (await storage.stat(partialPath))) return undefined;
  const file = await storage.open(destination, 'read');
  try {
    const { hasher, sourceMatches } = await rehashAgainstSource(file, source, seedOf(algorithm), size, interval, algorithm);
    return sourceMatches ? hasher.finish().chain : undefined;
  } finally {
    await file.close();
  }
}

/** Index of the first byte where `a` and `b` differ (the shorter length when one is a prefix of the other). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  // Halve the range while its first half compares equal: a few native compares, not a byte loop.
  let low = 0;
  let high = length;
  while (high - low > 64) {
    const middle = (low + high) >>> 1;
    if (Buffer.compare(a.subarray(low, middle), b.subarray(low, middle)) === 0) low = middle;
    else high = middle;
  }
  while (low < high && a[low] === b[low]) low++;
  return low;
}

/**
 * A hasher at the end of the data received past `base` that still matches the source, or at
 * `base` when it does not. That data was written but never checkpointed: the receiver was
 * killed, or the sender went away, before its fdatasync. A kill leaves it in the page cache,
 * so the resume sends nothing twice; after a power loss it may be lost or torn, and then the
 * check fails and the copy continues from `base`. A local source's bytes are compared, so the
 * part before the first difference is kept: a kill can leave a hole where a write still in
 * flight had not landed while a later one had (the writes run behind the copy, several at once).
 */
async function continueVerifiedTail(
  file: StorageFile,
  source: SourcePort,
  base: ChainPosition,
  size: number,
  interval: number,
  algorithm: ChainAlgorithm,
): Promise<ChainHasher> {
  const end = Math.min(await file.size(), size);
  if (end > base.offset) {
    const tail = await rehashAgainstSource(file, source, base, end, interval, algorithm, true);
    if (tail.sourceMatches) return tail.hasher;
  }
  return new ChainHasher(base.offset, base.chain, interval, algorithm);
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
  algorithm: ChainAlgorithm,
): Promise<{ readonly position: ChainPosition; readonly from: ChainPosition } | { readonly reason: string }> {
  const reasons: string[] = [];
  const seed = seedOf(algorithm);
  for (let i = positions.length - 1; i >= 0; i--) {
    const position = positions[i]!;
    // The chain just before this position's segment: the previous position, or the seed.
    const before: ChainPosition | undefined =
      verify === 'full' ? seed : (positions[i - 1] ?? (position.offset <= interval || interval === 0 ? seed : undefined));
    if (!before) continue;
    const { hasher, sourceMatches } = await rehashAgainstSource(file, source, before, position.offset, interval, algorithm);
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
