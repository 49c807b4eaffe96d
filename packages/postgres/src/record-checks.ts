/**
 * What a record must be before the PostgreSQL log writes it: the same refusals as core's file
 * Journal (encodable, within the record limit, readable back), so that a store and a file refuse
 * the same events. Apart from pg-log.ts because these are pure checks on values, with no
 * connection or state.
 */
import {
  InvalidInputError,
  MAX_PLAIN_DEPTH,
  MAX_RECORD_BYTES,
  decodePayload,
  encodePayload,
  findNonPlain,
  restoreSnapshot,
  type CkptEvent,
  type Fold,
} from '@ckpt/core/internal';

/**
 * Encodes `events` as one record's payload, or refuses them (code `invalid`) when they cannot be
 * encoded, exceed the record limit, or would be refused by the reader ({@link checkReadable}).
 */
export function encodeEvents(events: readonly CkptEvent[]): Uint8Array {
  let payload: Uint8Array;
  try {
    payload = encodePayload(events);
  } catch (error) {
    throw new InvalidInputError(`events cannot be encoded: ${(error as Error).message}`, { cause: error });
  }
  if (payload.length > MAX_RECORD_BYTES) {
    throw new InvalidInputError(`these ${events.length} event(s) encode to ${payload.length} bytes, over the ${MAX_RECORD_BYTES}-byte record limit`, {
      hint: 'record large data outside the checkpoint and keep a reference (a path and a hash) in the event',
    });
  }
  checkReadable(events);
  return payload;
}

/**
 * The reader's rules applied before a write, as core's Journal applies them: plain data nested
 * at most MAX_PLAIN_DEPTH levels, and no `__proto__` key (the reader would rename it).
 */
export function checkReadable(events: readonly CkptEvent[]): void {
  const bad = findNonPlain(events, 'events');
  if (bad !== undefined) {
    throw new InvalidInputError(`events cannot be recorded: the checkpoint's reader would refuse them (${bad})`, {
      hint: `record plain data nested at most ${MAX_PLAIN_DEPTH} levels, counting the record's array and the event itself`,
    });
  }
  const protoKey = findProtoKey(events, 'events', 0);
  if (protoKey !== undefined) {
    throw new InvalidInputError(`events cannot be recorded: ${protoKey} is a "__proto__" key, which the reader renames`, { hint: 'rename the key' });
  }
}

function findProtoKey(value: unknown, path: string, depth: number): string | undefined {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array || depth > 256) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findProtoKey(value[i], `${path}[${i}]`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (Object.hasOwn(value, '__proto__')) return `${path}.__proto__`;
  for (const key of Object.keys(value)) {
    const found = findProtoKey((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Why the reader would refuse `payload` as a snapshot, if it would: compaction keeps the history then. */
export function snapshotProblem(payload: Uint8Array, fold: Fold): string | undefined {
  try {
    restoreSnapshot((decodePayload(payload) as { state?: unknown }).state, fold);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
