import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { InvalidInputError } from '@ckpt/core';
import { TransferError } from '../errors.js';
import { ChainHasher, hashRange, type ChainAlgorithm, type ChainPosition } from './chain-hash.js';
import { fingerprintFile } from './fingerprint.js';
import type { SourceInfo, SourcePort, SourceStream } from './source-port.js';

/** Read size of the copy loop: large enough for throughput, small enough for bounded memory. */
export const READ_CHUNK_BYTES = 1 << 20;

/** Opens a local file for reading, mapping a user's mistake to a refusal. */
export async function openSourceFile(path: string): Promise<FileHandle> {
  let file: FileHandle;
  try {
    // O_NONBLOCK: a FIFO named as the source must be refused below, not wait for a writer.
    file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') throw new InvalidInputError(`source ${path} does not exist`, { hint: 'check the path of the file to copy' });
    if (code === 'EACCES' || code === 'EPERM')
      throw new InvalidInputError(`source ${path} cannot be read (permission denied)`, { hint: 'check its permissions' });
    if (code === 'EISDIR')
      throw new InvalidInputError(`source ${path} is a directory`, { hint: 'ckpt copy copies one file; add --recursive to copy a folder' });
    throw error;
  }
  const info = await file.stat();
  if (!info.isFile()) {
    await file.close();
    if (info.isDirectory())
      throw new InvalidInputError(`source ${path} is a directory`, { hint: 'ckpt copy copies one file; add --recursive to copy a folder' });
    throw new InvalidInputError(`source ${path} is not a regular file`, { hint: 'ckpt copy copies one regular file' });
  }
  return file;
}

/** Chunks a consumer of {@link LocalSource} may keep using (writing out) while it reads on. */
export const LOCAL_CHUNKS_HELD = 2;

/**
 * Reads `[offset, end)` of `file`, one read ahead of the consumer, in a ring of `held + 2`
 * buffers: when the consumer asks for a chunk, the `held` chunks before it stay untouched.
 */
export async function* readAhead(file: FileHandle, offset: number, end: number, chunkBytes = READ_CHUNK_BYTES, held = 0): AsyncGenerator<Uint8Array> {
  const buffers = Array.from({ length: held + 2 }, () => Buffer.allocUnsafe(chunkBytes));
  let which = 0;
  const readAt = (at: number, buffer: Buffer) => file.read(buffer, 0, Math.min(buffer.length, end - at), at);
  let pending = offset < end ? readAt(offset, buffers[0]!) : undefined;
  while (pending) {
    const { bytesRead, buffer } = await pending;
    if (bytesRead === 0) return;
    offset += bytesRead;
    which = (which + 1) % buffers.length;
    // This buffer held the chunk `held + 1` before the one being yielded: the consumer is done with it.
    pending = offset < end ? readAt(offset, buffers[which]!) : undefined;
    yield buffer.subarray(0, bytesRead);
  }
}

/** A source that is a local file. `ownDigest` hashes independently of the receiver (a node serving a pull). */
export class LocalSource implements SourcePort {
  private file: FileHandle | undefined;
  private info: SourceInfo | undefined;

  constructor(
    readonly path: string,
    private readonly ownDigest = false,
  ) {}

  async describe(): Promise<SourceInfo> {
    this.file ??= await openSourceFile(this.path);
    const fingerprint = await fingerprintFile(this.file);
    const { mode } = await this.file.stat();
    this.info = { size: fingerprint.size, fingerprint, mode: mode & 0o7777 };
    return this.info;
  }

  async hashRange(from: ChainPosition, to: number, interval: number, algorithm: ChainAlgorithm): Promise<string | undefined> {
    const file = await this.handle();
    const buffer = Buffer.allocUnsafe(1 << 20);
    const reader = {
      read: async (position: number, length: number) => {
        const { bytesRead } = await file.read(buffer, 0, Math.min(length, buffer.length), position);
        return buffer.subarray(0, bytesRead);
      },
    };
    return hashRange(reader, from, to, interval, algorithm);
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    const file = await this.handle();
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await file.read(buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  }

  async stream(from: ChainPosition, interval: number, at: number, algorithm: ChainAlgorithm): Promise<SourceStream> {
    const file = await this.handle();
    const size = this.info?.size ?? (await file.stat()).size;
    // Reads no larger than the interval (within 64 KiB..1 MiB), so an interruption loses at most one interval.
    const chunkBytes = interval > 0 ? Math.min(READ_CHUNK_BYTES, Math.max(64 * 1024, interval)) : READ_CHUNK_BYTES;
    const hasher = this.ownDigest ? new ChainHasher(from.offset, from.chain, interval, algorithm) : undefined;
    if (hasher) for await (const chunk of readAhead(file, from.offset, at, chunkBytes)) hasher.update(chunk);
    const before = this.info?.fingerprint;
    const path = this.path;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for await (const chunk of readAhead(file, at, size, chunkBytes, LOCAL_CHUNKS_HELD)) {
        hasher?.update(chunk);
        yield chunk;
      }
      // Written to while it was read: the copy would mix old and new bytes. Fail (a retry sees
      // the new fingerprint and starts over, saying why).
      // Compared exactly as the fingerprint recorded them (bigint stat, whole milliseconds).
      const now = await file.stat({ bigint: true });
      if (
        before &&
        (Number(now.size) !== before.size ||
          Number(now.mtimeMs) !== before.mtimeMs ||
          (before.mtimeNs !== undefined && now.mtimeNs.toString() !== before.mtimeNs))
      ) {
        throw new TransferError(`source ${path} changed while it was being copied`);
      }
    }
    return { chunks: chunks(), held: LOCAL_CHUNKS_HELD, digest: async () => hasher?.finish().chain };
  }

  async close(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }

  private async handle(): Promise<FileHandle> {
    this.file ??= await openSourceFile(this.path);
    return this.file;
  }
}
