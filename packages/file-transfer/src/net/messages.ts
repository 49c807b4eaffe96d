import { InvalidInputError } from '@ckpt/core';
import { HASH_ALGORITHMS, isHashAlgorithm, LEGACY_HASH, type HashAlgorithm } from '../transfer/chain-hash.js';
import type { SourceFingerprint } from '../transfer/fingerprint.js';
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
  /** The chain hash the client asks for (revision 5); SHA-256 when the `put` names none (an older client). */
  readonly algorithm: HashAlgorithm;
  /** The `put` named a chain hash: the client is of revision 5 or later, so it hashes with any this node knows. */
  readonly namesAlgorithm: boolean;
}

/** Refuses a request: `what` (`put request`) has `field` that `why`. */
export function malformed(what: string, field: string, why: string): never {
  throw new InvalidInputError(`malformed ${what}: "${field}" ${why}`, { hint: 'use a ckpt client of the same protocol (ckpt/1)' });
}

/** How a message that does not fit is refused: {@link malformed} for a request, answers.ts's own for an answer. */
export type Refuse = (what: string, field: string, why: string) => never;

export const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
/** Permission bits, setuid/setgid/sticky included: 0..0o7777. */
export const isMode = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0o7777;
export const isSize = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const DIGITS = /^[0-9]{1,40}$/;
/** Nanoseconds since 1970 (negative before). */
const SIGNED_DIGITS = /^-?[0-9]{1,40}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** A SHA-256 in lowercase hex. */
export const isSha256Hex = (value: unknown): value is string => typeof value === 'string' && SHA256_HEX.test(value);
const FINGERPRINT_FIELDS = new Set(['size', 'mtimeMs', 'mtimeNs', 'ino', 'sample']);

/**
 * A source fingerprint as sent by a peer: exactly `size` (equal to `size` of the message),
 * `mtimeMs` (a finite number), optional `mtimeNs` (decimal digits, maybe signed), `ino` (decimal
 * digits; both at most 40) and
 * `sample` (64 lowercase hex digits); any other field, any other type, is refused.
 */
export function parseFingerprint(value: unknown, size: number, what: string, refuse: Refuse = malformed): SourceFingerprint {
  if (!isObject(value)) refuse(what, 'fingerprint', 'is not an object');
  for (const key of Object.keys(value))
    if (!FINGERPRINT_FIELDS.has(key)) refuse(what, `fingerprint.${key.slice(0, 40)}`, 'is not a fingerprint field');
  const { size: fingerprintSize, mtimeMs, mtimeNs, ino, sample } = value;
  if (fingerprintSize !== size) refuse(what, 'fingerprint.size', 'differs from "size"');
  if (typeof mtimeMs !== 'number' || !Number.isFinite(mtimeMs)) refuse(what, 'fingerprint.mtimeMs', 'is not a finite number');
  if (mtimeNs !== undefined && (typeof mtimeNs !== 'string' || !SIGNED_DIGITS.test(mtimeNs)))
    refuse(what, 'fingerprint.mtimeNs', 'is not decimal digits');
  if (typeof ino !== 'string' || !DIGITS.test(ino)) refuse(what, 'fingerprint.ino', 'is not decimal digits');
  if (!isSha256Hex(sample)) refuse(what, 'fingerprint.sample', 'is not a SHA-256 in hex');
  return { size, mtimeMs, ...(mtimeNs !== undefined && { mtimeNs }), ino, sample };
}

/**
 * A `put` request. Fields this revision does not know are ignored (a later revision may add
 * some; they are never written); known ones must have their exact type. The interval must be 0
 * or at least {@link MIN_PEER_CHECKPOINT_INTERVAL}.
 */
export function parsePutRequest(message: ControlMessage): PutRequest {
  const what = 'put request';
  const { path, size, fingerprint, interval, verify, compress, mode, preserve, algorithm } = message;
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
  if (algorithm !== undefined && !isHashAlgorithm(algorithm)) malformed(what, 'algorithm', `is not one of ${HASH_ALGORITHMS.join(', ')}`);
  return {
    path,
    size,
    fingerprint: parseFingerprint(fingerprint, size, what),
    interval,
    verify: verify ?? 'tail',
    compress: compress === true,
    mode,
    preserve: preserve === true,
    algorithm: algorithm ?? LEGACY_HASH,
    namesAlgorithm: algorithm !== undefined,
  };
}

/** The path of a `get` request. */
export function parseGetRequest(message: ControlMessage): { readonly path: string } {
  if (typeof message['path'] !== 'string') malformed('get request', 'path', 'is not a string');
  return { path: message['path'] };
}

const CHAIN_HEX = /^([0-9a-f]{32}|[0-9a-f]{64})$/;

/** A chain value of any known hash, in lowercase hex: 64 digits (SHA-256) or 32 (XXH3-128). */
export function isChain(value: unknown): value is string {
  return typeof value === 'string' && CHAIN_HEX.test(value);
}
