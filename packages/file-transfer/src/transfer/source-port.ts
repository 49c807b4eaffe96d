import type { ChainAlgorithm, ChainPosition, HashAlgorithm } from './chain-hash.js';
import type { SourceFingerprint } from './fingerprint.js';

/** What the receiver learns about the source before it decides where to start. */
export interface SourceInfo {
  readonly size: number;
  readonly fingerprint: SourceFingerprint;
  /** The source's permission bits (0..0o7777), applied to the published file under `preserve`. */
  readonly mode?: number;
}

/** A stream of the source from an agreed position. */
export interface SourceStream {
  /**
   * The bytes, in order. Each chunk is lent: its memory may be reused once the consumer has
   * asked for `held + 1` more chunks, so everything done with a chunk (writing it, hashing it)
   * must be finished, or the chunk copied, before then. LocalSource reads ahead into a ring of
   * `held + 2` buffers; RemoteSource receives later frames into the memory of older ones.
   */
  readonly chunks: AsyncIterable<Uint8Array>;
  /**
   * How many earlier chunks the consumer may still be using (writing out, say) when it asks for
   * the next one. Default 0: a chunk is reused as soon as the next is asked for.
   */
  readonly held?: number;
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
  /**
   * The chain hashes the sender can compute; undefined: every one this revision knows. A peer of
   * an older revision knows only SHA-256 (docs/protocol.md, revision 5).
   */
  readonly hashes?: readonly HashAlgorithm[];
  /** The chain at `to` re-hashed from the source with `algorithm`, continuing `from`; undefined if the source is shorter. */
  hashRange(from: ChainPosition, to: number, interval: number, algorithm: ChainAlgorithm): Promise<string | undefined>;
  /**
   * Up to `length` bytes at `position` (fewer only at the end), for a source that reads them
   * cheaply (a local file): the receiver then compares bytes instead of having them hashed
   * again. A peer over the wire has none; the receiver asks for `hashRange`.
   */
  read?(position: number, length: number): Promise<Uint8Array>;
  /**
   * Streams `[at, size)`. `from` is the segment boundary at or before `at`, where the chain
   * (of `algorithm`) is known: a sender that hashes on its own re-reads `[from.offset, at)`
   * first, so both sides continue the same chain.
   */
  stream(from: ChainPosition, interval: number, at: number, algorithm: ChainAlgorithm): Promise<SourceStream>;
  close(): Promise<void>;
}
