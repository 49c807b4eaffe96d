import type { SourceFingerprint } from '../transfer/fingerprint.js';
import type { TransferEvent, TransferResult } from '../transfer/receiver.js';
import type { ControlMessage } from './framed-connection.js';
import { InvalidInputError } from '@ckpt/core';
import { DIGEST_PATTERN, HASH_ALGORITHMS, isHashAlgorithm } from '../transfer/chain-hash.js';
import { isChain, isMode, isObject, isSize, parseFingerprint, type Refuse } from './messages.js';

/**
 * Checks of what a node answers a client (docs/protocol.md, "Requests"), the counterpart of
 * messages.ts's checks of what a client asks a node. A client records the node's answers in its
 * own checkpoint (the source's size and fingerprint of a pull) or hands them to its caller (the
 * result of a push, a package step's record; the node's events, shown and written as --json):
 * so nothing is cast, each field is held to its exact shape, and an answer that does not fit is
 * refused with an `InvalidInputError` naming the node, the message and the field
 * (`node beta sent a malformed done: "result.digest" is not …`).
 */

/** Refuses an answer of `node`: `node beta sent a malformed done: "result.digest" is not …`. */
const refuserFor =
  (node: string): Refuse =>
  (what, field, why) => {
    throw new InvalidInputError(`node ${node} sent a malformed ${what}: "${field}" ${why}`, {
      hint: `node ${node} speaks another revision of the ckpt protocol, or is not a ckpt node; run the same ckpt on both sides`,
    });
  };

/** The answer to a `get`: what a pulling client records of the node's source. */
export function parseSourceAnswer(
  message: ControlMessage,
  node: string,
): { readonly size: number; readonly fingerprint: SourceFingerprint; readonly mode?: number } {
  const what = 'source answer';
  const malformed: Refuse = refuserFor(node);
  const size = message['size'];
  if (!isSize(size)) malformed(what, 'size', 'is not a byte count');
  const mode = message['mode'];
  // Absent from nodes before revision 4.
  if (mode !== undefined && !isMode(mode)) malformed(what, 'mode', 'is not a file mode (0 to 4095)');
  return { size, fingerprint: parseFingerprint(message['fingerprint'], size, what, malformed), ...(mode !== undefined && { mode }) };
}

/**
 * The `done` of a push: what the pushing client returns, and what a package's copy step records
 * in the run's checkpoint, so it is held to its exact shape too (a node cannot plant anything
 * else in the client's records).
 */
export function parseDoneResult(message: ControlMessage, size: number, node: string): TransferResult {
  const what = 'done';
  const malformed: Refuse = refuserFor(node);
  const result = message['result'];
  if (!isObject(result)) malformed(what, 'result', 'is not an object');
  const { bytes, sent, resumedFrom, digest } = result;
  if (bytes !== size) malformed(what, 'result.bytes', 'is not the size of the file pushed');
  if (!isSize(sent)) malformed(what, 'result.sent', 'is not a byte count');
  if (!isSize(resumedFrom) || resumedFrom > size) malformed(what, 'result.resumedFrom', 'is not an offset within the file');
  if (typeof digest !== 'string' || !DIGEST_PATTERN.test(digest))
    malformed(what, 'result.digest', 'is not xxh3-chain:<32 hex digits> or sha256-chain:<64 hex digits>');
  return { bytes, sent, resumedFrom, digest };
}

/** Longest text field of a relayed event (a reason, a warning): a line, not a payload. */
const MAX_EVENT_TEXT = 4096;

/** How one field of a relayed event is checked. */
interface FieldRule {
  readonly check: (value: unknown) => boolean;
  readonly why: string;
  readonly optional?: boolean;
}
const byteCount: FieldRule = { check: isSize, why: 'is not a byte count' };
const chain: FieldRule = { check: isChain, why: 'is not a chain value (an XXH3-128 or SHA-256 in hex)' };
const text: FieldRule = {
  check: (v) => typeof v === 'string' && v.length <= MAX_EVENT_TEXT,
  why: `is not a string of at most ${MAX_EVENT_TEXT} characters`,
};
/** Checked on its own, against the event's `size` (see {@link parsePeerEvent}). */
const fingerprint: FieldRule = { check: () => true, why: '' };

/** The events a receiving node relays to the pushing client, field by field (transfer-reducer.ts lists them). */
const EVENT_FIELDS: Readonly<Record<`transfer/${string}`, Readonly<Record<string, FieldRule>>>> = {
  'transfer/started': {
    size: byteCount,
    interval: byteCount,
    fingerprint,
    hash: { check: isHashAlgorithm, why: `is not one of ${HASH_ALGORITHMS.join(', ')}`, optional: true },
  },
  'transfer/resumed': {
    offset: byteCount,
    size: byteCount,
    verified: { check: (v) => v === 'tail' || v === 'full' || v === 'published', why: 'is not "tail", "full" or "published"' },
    checkpoint: { ...byteCount, optional: true },
  },
  'transfer/restarted': { reason: text },
  'transfer/checkpoint': { offset: byteCount, chain },
  'transfer/retry': {
    retry: byteCount,
    waitMs: { check: (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, why: 'is not a duration' },
    error: text,
  },
  'transfer/verified': { digest: chain, size: byteCount },
  'transfer/published': { size: byteCount, digest: chain },
  'transfer/up-to-date': { size: byteCount, digest: chain },
  'transfer/warning': { message: text },
};

const isKnownEventType = (type: string): type is `transfer/${string}` => Object.hasOwn(EVENT_FIELDS, type);

/**
 * The transfer event in an `event` message from the receiving node, rebuilt from its known
 * fields only; undefined for an event type this revision does not know (a later revision may
 * add some: they are not shown). A known type with a field missing or of another shape is refused.
 */
export function parsePeerEvent(message: ControlMessage, node: string): TransferEvent | undefined {
  const what = 'event';
  const malformed: Refuse = refuserFor(node);
  const event = message['event'];
  if (!isObject(event)) malformed(what, 'event', 'is not an object');
  const type = event['type'];
  if (typeof type !== 'string') malformed(what, 'event.type', 'is not a string');
  if (!isKnownEventType(type)) return undefined;
  const rules = EVENT_FIELDS[type]!;
  const fields: Record<string, unknown> = {};
  for (const [field, rule] of Object.entries(rules)) {
    const value = event[field];
    if (value === undefined && rule.optional) continue;
    if (!rule.check(value)) malformed(what, `event.${field}`, rule.why);
    fields[field] = value;
  }
  if ('fingerprint' in rules) fields['fingerprint'] = parseFingerprint(event['fingerprint'], fields['size'] as number, what, malformed);
  return { ...fields, type };
}
