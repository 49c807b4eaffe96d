import type { Fold } from '../fold/fold.js';
import { restoreSnapshot, snapshotState } from '../fold/snapshot.js';
import type { CheckpointState } from '../fold/state.js';
import { decodePayload, encodePayload } from './codec.js';
import { encodeHeader, frameRecord, framedSize, MAX_RECORD_BYTES, RecordType, saltCrcOf, saltOf } from './format.js';
import type { JobIdentity } from './identity.js';

// Compaction rewrites a checkpoint as header + one snapshot record. These are its pure parts:
// the snapshot payload (and whether the reader would accept it) and the new file's bytes. The
// writer (journal-writer.ts) decides when, takes the sequence number and swaps the file, since
// that touches its queue and its durability marks.

/**
 * The snapshot record's payload for `state` at `epoch`; `too-large` when it would exceed one
 * record (the history is kept instead), `unreadable` when the reader would refuse it as a
 * snapshot (it will not become readable by waiting, so the writer stops compacting).
 */
export function snapshotPayload(epoch: number, state: CheckpointState, fold: Fold): Uint8Array | 'too-large' | 'unreadable' {
  const payload = encodePayload({ epoch, state: snapshotState(state, fold) });
  if (payload.length > MAX_RECORD_BYTES) return 'too-large';
  // The snapshot may nest its values deeper than the events that set them.
  if (snapshotProblem(payload, fold) !== undefined) return 'unreadable';
  return payload;
}

/** Why the reader would refuse `payload` as a snapshot record, or undefined when it reads it. */
function snapshotProblem(payload: Uint8Array, fold: Fold): string | undefined {
  try {
    const decoded = decodePayload(payload) as { state?: unknown };
    restoreSnapshot(decoded.state, fold);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** A compacted file: its bytes, and the salt and header length the writer continues with. */
export interface CompactedFile {
  readonly bytes: Uint8Array;
  readonly salt: Uint8Array;
  readonly headerLength: number;
}

/**
 * The bytes of a compacted file: a new header (fresh salt, first record `seq`, the original
 * creation time and identity) followed by the snapshot record `seq`. A fresh salt means records
 * of the old file can never pass for records of the new one.
 */
export function compactedFile(
  seq: number,
  createdAt: number,
  identity: JobIdentity,
  payload: Uint8Array,
  random: (size: number) => Uint8Array,
): CompactedFile {
  const headerBytes = encodeHeader({
    salt: random(8),
    firstSeq: seq,
    createdAt,
    identityBytes: encodePayload(identity),
  });
  const bytes = new Uint8Array(headerBytes.length + framedSize(payload.length));
  bytes.set(headerBytes, 0);
  const salt = saltOf(headerBytes);
  frameRecord(bytes, headerBytes.length, { type: RecordType.Snapshot, seq, payload }, saltCrcOf(salt), 0);
  return { bytes, salt, headerLength: headerBytes.length };
}
