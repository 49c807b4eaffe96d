import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

/**
 * What identifies a source file's content cheaply: size, mtime, inode and a hash of 16 samples
 * of 4 KiB spread over the file. A resume whose source fingerprint differs starts over.
 */
export interface SourceFingerprint {
  readonly size: number;
  readonly mtimeMs: number;
  /** The modification time in nanoseconds, as text (catches writes within one millisecond). */
  readonly mtimeNs?: string;
  /** The inode number, as text (it may exceed 2^53). */
  readonly ino: string;
  /** SHA-256 (hex) of the sampled blocks. */
  readonly sample: string;
  readonly [key: string]: string | number | undefined;
}

const SAMPLES = 16;
const SAMPLE_BYTES = 4096;

/** Fingerprints an open file. */
export async function fingerprintFile(file: FileHandle): Promise<SourceFingerprint> {
  const info = await file.stat({ bigint: true });
  const size = Number(info.size);
  const hash = createHash('sha256');
  const buffer = Buffer.alloc(SAMPLE_BYTES);
  const span = Math.max(0, size - SAMPLE_BYTES);
  const seen = new Set<number>();
  for (let i = 0; i < SAMPLES; i++) {
    const at = Math.floor((span * i) / (SAMPLES - 1));
    if (seen.has(at)) continue;
    seen.add(at);
    const { bytesRead } = await file.read(buffer, 0, SAMPLE_BYTES, at);
    hash.update(buffer.subarray(0, bytesRead));
  }
  return { size, mtimeMs: Number(info.mtimeMs), mtimeNs: info.mtimeNs.toString(), ino: info.ino.toString(), sample: hash.digest('hex') };
}

/** Why two fingerprints differ, or undefined when they match. */
export function fingerprintChange(before: SourceFingerprint, now: SourceFingerprint): string | undefined {
  if (before.size !== now.size) return `the source's size changed from ${before.size} to ${now.size} bytes`;
  if (before.mtimeMs !== now.mtimeMs || (before.mtimeNs !== undefined && now.mtimeNs !== undefined && before.mtimeNs !== now.mtimeNs))
    return `the source's modification time changed (${new Date(before.mtimeMs).toISOString()} → ${new Date(now.mtimeMs).toISOString()})`;
  if (before.ino !== now.ino) return `the source was replaced (inode ${before.ino} → ${now.ino})`;
  if (before.sample !== now.sample) return "the source's sampled content changed";
  return undefined;
}
