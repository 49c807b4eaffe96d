import { createHash, type Hash } from 'node:crypto';
import { HashUnavailableError } from '../errors.js';

/**
 * The running hash of a transfer. Neither node:crypto nor a WebAssembly hasher's saved state is
 * a portable midstate a checkpoint could hold, so the file is cut into segments at every
 * multiple of the checkpoint interval (and at the end of the file), and
 *
 *     chain_0 = H(seed text of H)
 *     chain_i = H(chain_{i-1} ‖ segment_i)
 *
 * A checkpoint records `(offset, chain)` at a segment boundary, so a resume continues the chain
 * from there, and re-hashing the last segment (`tail`) or every segment (`full`) proves that a
 * prefix still matches. The final chain is the transfer's digest (it depends on the interval).
 *
 * H is one of {@link HASH_ALGORITHMS}: XXH3-128 (`xxh3`, the default: ≈2× SHA-256's speed
 * here, bench/experiments/hash-candidates.mjs) or SHA-256 (`sha256`, what every checkpoint and
 * peer that names no algorithm used). The chain guards against accidental damage and a source
 * that changed; the peer is authenticated by the handshake, and whoever sends the bytes chooses
 * them anyway, so a non-cryptographic 128-bit hash is as safe for this use.
 */

/** A chain hash by name, as recorded in a checkpoint (`transfer/started.hash`) and sent on the wire. */
export type HashAlgorithm = 'xxh3' | 'sha256';

/** Every algorithm this revision knows, the preferred first (a node announces them in `ready`). */
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['xxh3', 'sha256'];

/** What a transfer uses unless told otherwise. */
export const DEFAULT_HASH: HashAlgorithm = 'xxh3';

/** What a checkpoint, request or peer that names no algorithm means (every ckpt before XXH3). */
export const LEGACY_HASH: HashAlgorithm = 'sha256';

/** Whether `value` names a chain hash this revision knows. */
export const isHashAlgorithm = (value: unknown): value is HashAlgorithm => HASH_ALGORITHMS.includes(value as HashAlgorithm);

/** Hex digits of one chain value of `name`: 64 for SHA-256, 32 for XXH3-128. */
const chainHexLength = (name: HashAlgorithm): number => (name === 'sha256' ? 64 : 32);

/** A chain value of `name`: its digest in lowercase hex. */
export function isChainOf(name: HashAlgorithm, value: unknown): value is string {
  return typeof value === 'string' && value.length === chainHexLength(name) && /^[0-9a-f]+$/.test(value);
}

/** The transfer's digest as results show it: `xxh3-chain:<32 hex>`, `sha256-chain:<64 hex>`. */
export const formatDigest = (name: HashAlgorithm, chain: string): string => `${name}-chain:${chain}`;

/** A digest as {@link formatDigest} writes it, for any known algorithm. */
export const DIGEST_PATTERN = /^(sha256-chain:[0-9a-f]{64}|xxh3-chain:[0-9a-f]{32})$/;

/** One segment's hash: started from the previous chain, fed the segment's bytes. */
interface SegmentHash {
  start(chain: string): void;
  update(data: Uint8Array): void;
  /** The digest, closing the segment ({@link start} must follow). */
  digest(): string;
  /** The digest so far, leaving the segment open. */
  peek(): string;
}

/** A loaded chain hash: its seed and a factory of segment hashes (synchronous once loaded). */
export interface ChainAlgorithm {
  readonly name: HashAlgorithm;
  /** chain_0, hex. */
  readonly seed: string;
  createSegment(): SegmentHash;
}

class Sha256Segment implements SegmentHash {
  private hash: Hash = createHash('sha256');
  start(chain: string): void {
    this.hash = createHash('sha256').update(Buffer.from(chain, 'hex'));
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  digest(): string {
    return this.hash.digest('hex');
  }
  peek(): string {
    return this.hash.copy().digest('hex');
  }
}

/** chain_0 of SHA-256, hex (unchanged since the first revision). */
export const CHAIN_SEED = createHash('sha256').update('ckpt-file-transfer chain v1').digest('hex');

/** SHA-256, always available (node:crypto). */
export const SHA256_CHAIN: ChainAlgorithm = { name: 'sha256', seed: CHAIN_SEED, createSegment: () => new Sha256Segment() };

/** The part of hash-wasm's `IHasher` the chain uses. */
interface WasmHasher {
  init(): unknown;
  update(data: Uint8Array): unknown;
  digest(format: 'hex'): string;
  save(): Uint8Array;
  load(state: Uint8Array): unknown;
}

/**
 * XXH3-128 from hash-wasm (WebAssembly: no native build, the same code on every platform).
 * Imported on first use only, so `ckpt --version` and every verb that copies nothing never load it.
 *
 * One WebAssembly instance serves every segment hash of the process: the segment whose state it
 * holds is its owner, and another segment takes it over by saving the owner's state (≈600 bytes)
 * and loading its own. The copy loop hashes with one segment at a time, so it never switches;
 * a resume's re-hash beside a stream switches once per 1 MiB read.
 *
 * @throws HashUnavailableError when the module or its WebAssembly cannot load (`node --jitless`):
 * a refusal naming `--hash sha256`, not a transient failure to retry.
 */
export async function loadXxh3(
  // The single-algorithm build (see hash-wasm-xxhash128.d.ts): a CommonJS module, its exports on `default`.
  // A parameter so that a test can make the load fail as `node --jitless` does.
  importHasher: () => Promise<{ createXXHash128(): Promise<unknown> }> = async () => (await import('hash-wasm/dist/xxhash128.umd.min.js')).default,
): Promise<ChainAlgorithm> {
  let wasm: WasmHasher;
  try {
    wasm = (await (await importHasher()).createXXHash128()) as WasmHasher;
  } catch (error) {
    // Not retryable: without WebAssembly (node --jitless) or with the module missing, every attempt fails alike.
    const reason = error instanceof Error ? error.message : String(error);
    throw new HashUnavailableError(`the XXH3 chain hash cannot be loaded (hash-wasm's WebAssembly: ${reason}); nothing was copied`, {
      cause: error,
    });
  }
  wasm.init();
  wasm.update(new TextEncoder().encode('ckpt-file-transfer chain v1 xxh3'));
  const seed = wasm.digest('hex');
  let owner: Xxh3Segment | undefined;

  class Xxh3Segment implements SegmentHash {
    /** This segment's state while another owns the instance. */
    private state: Uint8Array | undefined;
    /** Started and not yet digested: its state is worth keeping. */
    private open = false;

    private own(): void {
      if (owner === this) return;
      if (owner?.open) owner.state = wasm.save();
      owner = this;
      if (this.open) wasm.load(this.state!);
      this.state = undefined;
    }
    start(chain: string): void {
      this.own();
      wasm.init();
      wasm.update(Buffer.from(chain, 'hex'));
      this.open = true;
    }
    update(data: Uint8Array): void {
      this.own();
      wasm.update(data);
    }
    digest(): string {
      this.own();
      this.open = false;
      return wasm.digest('hex');
    }
    peek(): string {
      this.own();
      const state = wasm.save();
      const hex = wasm.digest('hex');
      wasm.load(state);
      return hex;
    }
  }
  return { name: 'xxh3', seed, createSegment: () => new Xxh3Segment() };
}

let xxh3: Promise<ChainAlgorithm> | undefined;

/** The chain hash `name`, loading it on first use (XXH3's WebAssembly: a few ms, once per process). */
export function loadChainAlgorithm(name: HashAlgorithm): Promise<ChainAlgorithm> {
  if (name === 'sha256') return Promise.resolve(SHA256_CHAIN);
  xxh3 ??= loadXxh3();
  xxh3.catch(() => (xxh3 = undefined)); // a failed load may be retried
  return xxh3;
}

/** A recorded position: `chain` covers every byte before `offset`. */
export interface ChainPosition {
  readonly offset: number;
  readonly chain: string;
}

/** Folds bytes into the chain, reporting each segment boundary crossed. */
export class ChainHasher {
  private readonly hash: SegmentHash;
  private chain: string;
  private segmentBytes = 0;

  constructor(
    private offset: number,
    chain: string,
    /** Segment length; 0 means one segment for the whole file. */
    private readonly interval: number,
    /** The chain hash (SHA-256 when not given: what a checkpoint naming none used). */
    readonly algorithm: ChainAlgorithm = SHA256_CHAIN,
  ) {
    this.chain = chain;
    this.hash = algorithm.createSegment();
    this.hash.start(chain);
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
    return this.segmentBytes === 0 ? this.chain : this.hash.peek();
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
    this.chain = this.hash.digest();
    this.hash.start(this.chain);
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
export async function hashRange(
  file: ByteReader,
  from: ChainPosition,
  to: number,
  interval: number,
  algorithm: ChainAlgorithm = SHA256_CHAIN,
): Promise<string | undefined> {
  const hasher = new ChainHasher(from.offset, from.chain, interval, algorithm);
  let offset = from.offset;
  while (offset < to) {
    const bytes = await file.read(offset, Math.min(1 << 20, to - offset));
    if (bytes.length === 0) return undefined;
    hasher.update(bytes);
    offset += bytes.length;
  }
  return hasher.finish().chain;
}
