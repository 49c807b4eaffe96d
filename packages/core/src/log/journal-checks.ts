import { InvalidInputError } from '../errors.js';
import type { CkptEvent } from '../fold/events.js';
import { findNonPlain, MAX_PLAIN_DEPTH } from '../fold/plain.js';
import { encodePayload } from './codec.js';
import { MAX_RECORD_BYTES } from './format.js';
import { isPlainQuick } from './plain-fast.js';
import type { LogEntry } from './read-log.js';

// What an append checks before it queues anything, beyond the record size and the fold: that
// the checkpoint's own reader will accept the record once it is on disk.

/**
 * Encodes `events` as one record's payload, or refuses them (InvalidInputError, before anything
 * is queued) when they cannot be encoded, exceed the record limit, or would be refused by the
 * reader ({@link checkReadable}). Every log that writes the file format's payloads (the file
 * Journal, the PostgreSQL store) refuses the same events through it.
 */
export function encodeRecord(events: readonly CkptEvent[]): Uint8Array {
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
 * The reader's rules applied before a write: a writer must never write a record its own reader
 * refuses (that would wedge the checkpoint for good). The reader decodes an events record and
 * refuses it unless the whole payload is plain data nested at most MAX_PLAIN_DEPTH levels
 * (`findNonPlain(payload)` in codec.ts); the record length and the fold are checked by the
 * appender already. Plain data is exactly what msgpack carries without extension types, so
 * checking the events as given is checking what the reader will decode, without decoding every
 * append. A `__proto__` key is refused too: the reader would silently rename it. Throws
 * InvalidInputError, before anything is queued.
 */
export function checkReadable(events: readonly CkptEvent[]): void {
  if (isPlainQuick(events, 0, true)) return;
  const bad = findNonPlain(events, 'events');
  if (bad !== undefined) {
    throw new InvalidInputError(`events cannot be recorded: the checkpoint's reader would refuse them (${bad})`, {
      hint: `record plain data nested at most ${MAX_PLAIN_DEPTH} levels, counting the record's array and the event itself`,
    });
  }
  const protoKey = findProtoKey(events, 'events', 0);
  if (protoKey !== undefined) {
    throw new InvalidInputError(`events cannot be recorded: ${protoKey} is a "__proto__" key, which the reader renames`, {
      hint: 'rename the key',
    });
  }
}

/** The path of the first own `__proto__` key in plain data (already bounded in depth by findNonPlain). */
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

/** The entries of a queued record: those of its events, not yet at a file offset. */
export function entriesOf(seq: number, events: readonly CkptEvent[] | undefined): LogEntry[] {
  return events === undefined ? [] : events.map((event, index) => ({ kind: 'event', seq, offset: -1, index, event }));
}
