/**
 * Whether a compaction snapshot reads back. Events are refused by core's `encodeRecord`, the same
 * check the file Journal makes, so a store and a file refuse the same events. Apart from
 * pg-log.ts because it is a pure check on values, with no connection or state.
 */
import { decodePayload, restoreSnapshot, type Fold } from '@ckpt/core/internal';

/** Why the reader would refuse `payload` as a snapshot, if it would: compaction keeps the history then. */
export function snapshotProblem(payload: Uint8Array, fold: Fold): string | undefined {
  try {
    restoreSnapshot((decodePayload(payload) as { state?: unknown }).state, fold);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
