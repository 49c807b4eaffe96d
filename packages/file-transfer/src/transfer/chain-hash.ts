import { createHash, type Hash } from 'node:crypto';

/**
 * The running hash of a transfer. node:crypto cannot export and re-import a SHA-256 midstate,
 * so a checkpoint cannot hold "the hash so far" of a plain digest. Instead the file is cut into
 * segments at every multiple of the checkpoint interval (and at the end of the file), and
 *
 *     chain_0 = SHA-256("ckpt-file-transfer chain v1")
 *     chain_i = SHA-256(chain_{i-1} ‖ segment_i)
 *
 * A checkpoint records `(offset, chain)` at a segment boundary, so a resume continues the chain
 * from there, and re-hashing the last segment (`tail`) or every segment (`full`) proves that a
 * prefix still matches. The final chain is the transfer's digest (it depends on the interval).
 */

/** chain_0, hex. */
export const CHAIN_SEED = createHash('sha256').update('ckpt-file-transfer chain v1').digest('hex');

/** A recorded position: `chain` covers every byte before `offset`. */
export interface ChainPosition {
  readonly offset: number;
  readonly chain: string;
}

/** Folds bytes into the chain, reporting each segment boundary crossed. */
export class ChainHasher {
  private hash: Hash;
  private chain: string;
  private segmentBytes = 0;

  constructor(
    private offset: number,
    chain: string,
    /** Segment length; 0 means one segment for the whole file. */
    private readonly interval: number,
  ) {
    this.chain = chain;
    this.hash = createHash('sha256').update(Buffer.from(chain, 'hex'));
  }

  /** Bytes folded so far, as an absolute offset. */
  get position(): number {
    return this.offset;
  }

  /** Adds `data`; returns the boundaries it completed (in order). */
  update(data: Uint8Array): ChainPosition[] {
    const crossed: ChainPosition[] = [];
    let rest = data;
    while (rest.length > 0) {
      const room = this.interval > 0 ? this.interval - (this.offset % this.interval) : rest.length;
      const take = Math.min(room, rest.length);
      this.hash.update(take === rest.length ? rest : rest.subarray(0, take));
      this.offset += take;
      this.segmentBytes += take;
      rest = rest.subarray(take);
      if (this.interval > 0 && this.offset % this.interval === 0) crossed.push(this.cut());
    }
    return crossed;
  }

  /** The chain at the current offset, as {@link finish} would give it, leaving the hasher as it is. */
  peek(): string {
    return this.segmentBytes === 0 ? this.chain : this.hash.copy().digest('hex');
  }

  /** The newest segment boundary folded (or the starting position). */
  get boundary(): ChainPosition {
    return { offset: this.offset - this.segmentBytes, chain: this.chain };
  }

  /** The chain at the current offset (closing a partial segment; the hasher stays usable only if none was open). */
  finish(): ChainPosition {
    return this.segmentBytes === 0 ? { offset: this.offset, chain: this.chain } : this.cut();
  }

  private cut(): ChainPosition {
    this.chain = this.hash.digest('hex');
    this.hash = createHash('sha256').update(Buffer.from(this.chain, 'hex'));
    this.segmentBytes = 0;
    return { offset: this.offset, chain: this.chain };
  }
}

/** What {@link hashRange} reads from: core's `StorageFile` is one. */
export interface ByteReader {
  /** Up to `length` bytes at `position`; fewer only at end of file. */
  read(position: number, length: number): Promise<Uint8Array>;
}

/** Re-hashes `[from, to)` of a file continuing `chain`; returns the chain at `to`, or undefined when the file is shorter. */
export async function hashRange(file: ByteReader, from: ChainPosition, to: number, interval: number): Promise<string | undefined> {
  const hasher = new ChainHasher(from.offset, from.chain, interval);
  let offset = from.offset;
  while (offset < to) {
    const bytes = await file.read(offset, Math.min(1 << 20, to - offset));
    if (bytes.length === 0) return undefined;
    hasher.update(bytes);
    offset += bytes.length;
  }
  return hasher.finish().chain;
}
