import { createHash } from 'node:crypto';
import { TransferError } from '../errors.js';
import { ChainHasher, type ChainAlgorithm, type ChainPosition } from '../transfer/chain-hash.js';
import type { SourceInfo, SourcePort, SourceStream } from '../transfer/source-port.js';

/** Options of {@link MemorySource}. */
export interface MemorySourceOptions {
  /** Bytes per streamed chunk (default 4 KiB). */
  readonly chunkBytes?: number;
  /** The sender goes away once this many bytes (absolute offset) were streamed: a crash on the sending side. */
  readonly diesAt?: number;
}

/**
 * A sender holding its bytes in memory (tests): like a peer over the wire, it hashes what it
 * sends independently, so the receiver's end-to-end check compares two computations.
 */
export class MemorySource implements SourcePort {
  constructor(
    private readonly data: Uint8Array,
    private readonly options: MemorySourceOptions = {},
  ) {}

  async describe(): Promise<SourceInfo> {
    const size = this.data.length;
    return { size, fingerprint: { size, mtimeMs: 0, ino: '1', sample: createHash('sha256').update(this.data).digest('hex') } };
  }

  async hashRange(from: ChainPosition, to: number, interval: number, algorithm: ChainAlgorithm): Promise<string | undefined> {
    if (to > this.data.length) return undefined;
    const hasher = new ChainHasher(from.offset, from.chain, interval, algorithm);
    hasher.update(this.data.subarray(from.offset, to));
    return hasher.finish().chain;
  }

  async stream(from: ChainPosition, interval: number, at: number, algorithm: ChainAlgorithm): Promise<SourceStream> {
    const { data } = this;
    const chunkBytes = this.options.chunkBytes ?? 4096;
    const diesAt = this.options.diesAt;
    const hasher = new ChainHasher(from.offset, from.chain, interval, algorithm);
    hasher.update(data.subarray(from.offset, at));
    async function* chunks(): AsyncGenerator<Uint8Array> {
      let offset = at;
      while (offset < data.length) {
        if (diesAt !== undefined && offset >= diesAt) throw new TransferError(`the sender went away at byte ${offset}`);
        const end = Math.min(data.length, offset + chunkBytes, diesAt ?? Infinity);
        const chunk = data.slice(offset, end);
        hasher.update(chunk);
        yield chunk;
        offset = end;
      }
    }
    // Each chunk is a fresh copy: the receiver may keep writing a few while it reads on.
    return { chunks: chunks(), held: 2, digest: async () => hasher.finish().chain };
  }

  async close(): Promise<void> {}
}
