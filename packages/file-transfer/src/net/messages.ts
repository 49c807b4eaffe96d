import { InvalidInputError } from '@ckpt/core';
import type { SourceFingerprint } from '../transfer/fingerprint.js';
import type { TransferResult } from '../transfer/receiver.js';
import type { ControlMessage } from './framed-connection.js';

/**
 * Checks of what a peer sends, at the protocol boundary (docs/protocol.md, "Requests"). Whatever
 * a peer puts in a message may end up in a checkpoint record this node writes; so every field is
 * checked against its exact shape here, before any file is touched, and a message that does not
 * fit is refused with an `invalid` error the peer sees. Nothing a peer sends can make the node
 * write a record its own reader would refuse (issue 12, item 4).
 */

/**
 * The smallest checkpoint interval a node accepts from a peer: 64 KiB (0, no checkpoints, is
 * accepted too). Each checkpoint costs the node an fsync of the partial data and of the record;
 * a peer asking for 1 byte would make it sync once per byte.
 */
export const MIN_PEER_CHECKPOINT_INTERVAL = 64 * 1024;

/** A push, as checked. */
export interface PutRequest {
  readonly path: string;
  readonly size: number;
  readonly fingerprint: SourceFingerprint;
  /** Undefined: the node's default. */
  readonly interval: number | undefined;
  readonly verify: 'tail' | 'full';
  readonly compress: boolean;
  /** The source's permission bits, when the client sent them (revision 4). */
  readonly mode: number | undefined;
  /** Publish with the source's mode and modification time (revision 4). */
  readonly preserve: boolean;
}

function malformed(what: string, field: string, why: string): never {
  throw new InvalidInputError(`malformed ${what}: "${field}" ${why}`, { hint: 'use a ckpt client of the same protocol (ckpt/1)' });
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
/** Permission bits, setuid/setgid/sticky included: 0..0o7777. */
const isMode = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0o7777;
const isSize = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const DIGITS = /^[0-9]{1,40}$/;
/** Nanoseconds since 1970 (negative before). */
const SIGNED_DIGITS = /^-?[0-9]{1,40}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const FINGERPRINT_FIELDS = new Set(['size', 'mtimeMs', 'mtimeNs', 'ino', 'sample']);

/**
 * A source fingerprint as sent by a peer: exactly `size` (equal to `size` of the message),
 * `mtimeMs` (a finite number), optional `mtimeNs` (decimal digits, maybe signed), `ino` (decimal
 * digits; both at most 40) and
 * `sample` (64 lowercase hex digits); any other field, any other type, is refused.
 */
export function parseFingerprint(value: unknown, size: number, what: string): SourceFingerprint {
  if (!isObject(value)) malformed(what, 'fingerprint', 'is not an object');
  for (const key of Object.keys(value)) if (!FINGERPRINT_FIELDS.has(key)) malformed(what, `fingerprint.${key.slice(0, 40)}`, 'is not a fingerprint field');
  const { size: fingerprintSize, mtimeMs, mtimeNs, ino, sample } = value;
  if (fingerprintSize !== size) malformed(what, 'fingerprint.size', 'differs from "size"');
  if (typeof mtimeMs !== 'number' || !Number.isFinite(mtimeMs)) malformed(what, 'fingerprint.mtimeMs', 'is not a finite number');
  if (mtimeNs !== undefined && (typeof mtimeNs !== 'string' || !SIGNED_DIGITS.test(mtimeNs))) malformed(what, 'fingerprint.mtimeNs', 'is not decimal digits');
  if (typeof ino !== 'string' || !DIGITS.test(ino)) malformed(what, 'fingerprint.ino', 'is not decimal digits');
  if (typeof sample !== 'string' || !SHA256_HEX.test(sample)) malformed(what, 'fingerprint.sample', 'is not a SHA-256 in hex');
  return { size, mtimeMs, ...(mtimeNs !== undefined && { mtimeNs }), ino, sample };
}

/**
 * A `put` request. Fields this revision does not know are ignored (a later revision may add
 * some; they are never written); known ones must have their exact type. The interval must be 0
 * or at least {@link MIN_PEER_CHECKPOINT_INTERVAL}.
 */
export function parsePutRequest(message: ControlMessage): PutRequest {
  const what = 'put request';
  const { path, size, fingerprint, interval, verify, compress, mode, preserve } = message;
  if (typeof path !== 'string') malformed(what, 'path', 'is not a string');
  if (!isSize(size)) malformed(what, 'size', 'is not a byte count');
  if (interval !== undefined && !isSize(interval)) malformed(what, 'interval', 'is not a byte count');
  if (interval !== undefined && interval > 0 && interval < MIN_PEER_CHECKPOINT_INTERVAL) {
    throw new InvalidInputError(`checkpoint interval ${interval} B is below this node's minimum of ${MIN_PEER_CHECKPOINT_INTERVAL / 1024} KiB`, {
      hint: `use --checkpoint-interval ${MIN_PEER_CHECKPOINT_INTERVAL / 1024}KiB or more (0 turns checkpoints off)`,
    });
  }
  if (verify !== undefined && verify !== 'tail' && verify !== 'full') malformed(what, 'verify', 'is not "tail" or "full"');
  if (compress !== undefined && typeof compress !== 'boolean') malformed(what, 'compress', 'is not a boolean');
  if (mode !== undefined && !isMode(mode)) malformed(what, 'mode', 'is not a file mode (0 to 4095)');
  if (preserve !== undefined && typeof preserve !== 'boolean') malformed(what, 'preserve', 'is not a boolean');
  return { path, size, fingerprint: parseFingerprint(fingerprint, size, what), interval, verify: verify ?? 'tail', compress: compress === true, mode, preserve: preserve === true };
}

/** The path of a `get` request. */
export function parseGetRequest(message: ControlMessage): { readonly path: string } {
  if (typeof message['path'] !== 'string') malformed('get request', 'path', 'is not a string');
  return { path: message['path'] };
}

/** The answer to a `get`: what a pulling client records of the node's source. */
export function parseSourceAnswer(message: ControlMessage): { readonly size: number; readonly fingerprint: SourceFingerprint; readonly mode?: number } {
  const size = message['size'];
  if (!isSize(size)) malformed('source answer', 'size', 'is not a byte count');
  const mode = message['mode'];
  // Absent from nodes before revision 4.
  if (mode !== undefined && !isMode(mode)) malformed('source answer', 'mode', 'is not a file mode (0 to 4095)');
  return { size, fingerprint: parseFingerprint(message['fingerprint'], size, 'source answer'), ...(mode !== undefined && { mode }) };
}

/**
 * The `done` of a push: what the pushing client returns, and what a package's copy step records
 * in the run's checkpoint, so it is held to its exact shape too (a node cannot plant anything
 * else in the client's records).
 */
export function parseDoneResult(message: ControlMessage, size: number): TransferResult {
  const result = message['result'];
  if (!isObject(result)) malformed('done', 'result', 'is not an object');
  const { bytes, sent, resumedFrom, digest } = result;
  if (bytes !== size) malformed('done', 'result.bytes', 'is not the size of the file pushed');
  if (!isSize(sent)) malformed('done', 'result.sent', 'is not a byte count');
  if (!isSize(resumedFrom) || resumedFrom > size) malformed('done', 'result.resumedFrom', 'is not an offset within the file');
  if (typeof digest !== 'string' || !/^sha256-chain:[0-9a-f]{64}$/.test(digest)) malformed('done', 'result.digest', 'is not sha256-chain:<64 hex digits>');
  return { bytes, sent, resumedFrom, digest };
}

/** A chain value in `hash` and `send`: the seed or a segment's SHA-256, in hex. */
export function isChain(value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX.test(value);
}
