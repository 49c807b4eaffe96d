import type { ChainPosition } from './chain-hash.js';
import type { SourceFingerprint } from './fingerprint.js';

/** What the receiver learns about the source before it decides where to start. */
export interface SourceInfo {
  readonly size: number;
  readonly fingerprint: SourceFingerprint;
}

/** A stream of the source from an agreed position. */
export interface SourceStream {
  /**
   * The bytes, in order. Each chunk is lent: its memory may be reused as soon as the consumer
   * asks for the next chunk, so everything done with a chunk (writing it, hashing it) must be
   * finished, or the chunk copied, before then. LocalSource reads the chunk after next into the
   * same buffer; RemoteSource receives later frames into the same memory.
   */
  readonly chunks: AsyncIterable<Uint8Array>;
  /**
   * The sender's own chain at the end, computed from the bytes it read, or undefined when the
   * sender shares the receiver's buffers (a local copy, where one hash covers both).
   */
  digest(): Promise<string | undefined>;
}

/**
 * The sending side as the receiver sees it: a local file, or a peer over the wire. The receiver
 * drives the agreement: it asks the sender to re-hash the ranges it proposes to keep.
 */
export interface SourcePort {
  describe(): Promise<SourceInfo>;
  /** The chain at `to` re-hashed from the source, continuing `from`; undefined if the source is shorter. */
  hashRange(from: ChainPosition, to: number, interval: number): Promise<string | undefined>;
  /** Streams `[from.offset, size)`. */
  stream(from: ChainPosition, interval: number): Promise<SourceStream>;
  close(): Promise<void>;
}
