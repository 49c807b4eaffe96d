import { crc32 } from 'node:zlib';

/**
 * The on-disk format, version 1. docs/log-format.md is the normative description; the
 * constants here are the single source of the numbers in it. All integers are little-endian.
 *
 * File   = Header Record*
 * Header = magic[8] version:u16 headerLength:u16 flags:u32 salt[8] firstSeq:u64 createdAt:u64
 *          identity:msgpack crc:u32                          (crc over every header byte before it)
 * Record = length:u32 crc:u32 type:u8 reserved[3] seq:u64 durableMark:u64 payload[length]
 *          (crc over type..payload, seeded with crc32(salt))
 */

/** "\x89CKPT\r\n\x1a": a high byte (catches 7-bit transfers), the name, and line-ending canaries. */
export const MAGIC = Uint8Array.of(0x89, 0x43, 0x4b, 0x50, 0x54, 0x0d, 0x0a, 0x1a);
export const FORMAT_VERSION = 1;
/** Size of the header's fixed part, before the identity. */
export const HEADER_FIXED_BYTES = 40;
/** Largest header accepted. */
export const MAX_HEADER_BYTES = 4096;
/** Size of a record's frame before its payload. */
export const RECORD_HEADER_BYTES = 28;
/** Largest payload accepted, checked before any allocation. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** Record types. */
export const RecordType = {
  /** A writer session began: `{ epoch, pid, host, startedAt, writer }`. */
  Epoch: 1,
  /** Events that land together: an array of event maps. */
  Events: 2,
  /** The folded state of everything before it: `{ epoch, state }`. */
  Snapshot: 3,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

const RECORD_TYPES: ReadonlySet<number> = new Set(Object.values(RecordType));

/** Whether `type` is a record type this version understands. */
export function isRecordType(type: number): type is RecordType {
  return RECORD_TYPES.has(type);
}

/** What the header holds. */
export interface LogHeader {
  readonly version: number;
  readonly headerLength: number;
  readonly salt: Uint8Array;
  readonly firstSeq: number;
  readonly createdAt: number;
  /** The identity map, decoded by the caller. */
  readonly identityBytes: Uint8Array;
}

function readU64(view: DataView, offset: number): number {
  const low = view.getUint32(offset, true);
  const high = view.getUint32(offset + 4, true);
  // Values past 2^53 cannot occur in a valid file; they make the number imprecise, and every
  // caller compares it against bounds that reject it.
  return high * 0x1_0000_0000 + low;
}

function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % 0x1_0000_0000, true);
  view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Builds a header. */
export function encodeHeader(fields: {
  salt: Uint8Array;
  firstSeq: number;
  createdAt: number;
  identityBytes: Uint8Array;
}): Uint8Array {
  const length = HEADER_FIXED_BYTES + fields.identityBytes.length + 4;
  if (length > MAX_HEADER_BYTES) {
    throw new RangeError(`the identity is too large for a header (${length} > ${MAX_HEADER_BYTES} bytes)`);
  }
  const bytes = new Uint8Array(length);
  const view = viewOf(bytes);
  bytes.set(MAGIC, 0);
  view.setUint16(8, FORMAT_VERSION, true);
  view.setUint16(10, length, true);
  view.setUint32(12, 0, true);
  bytes.set(fields.salt, 16);
  writeU64(view, 24, fields.firstSeq);
  writeU64(view, 32, fields.createdAt);
  bytes.set(fields.identityBytes, HEADER_FIXED_BYTES);
  view.setUint32(length - 4, crc32(bytes.subarray(0, length - 4)), true);
  return bytes;
}

/** Why a header was refused. */
export type HeaderProblem = { readonly offset: number; readonly reason: string };

/**
 * Parses a header from the first bytes of a file. Returns the header, or the problem and the
 * offset it was found at. `bytes` may be shorter than the header.
 */
export function decodeHeader(bytes: Uint8Array): LogHeader | HeaderProblem {
  if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b)) {
    return { offset: 0, reason: 'it does not start with the ckpt magic bytes (not a ckpt checkpoint file)' };
  }
  if (bytes.length < HEADER_FIXED_BYTES + 4) return { offset: bytes.length, reason: 'the header is truncated' };
  const view = viewOf(bytes);
  const version = view.getUint16(8, true);
  if (version !== FORMAT_VERSION) {
    return { offset: 8, reason: `format version ${version} is not supported (this ckpt reads version ${FORMAT_VERSION})` };
  }
  const headerLength = view.getUint16(10, true);
  if (headerLength < HEADER_FIXED_BYTES + 4 || headerLength > MAX_HEADER_BYTES) {
    return { offset: 10, reason: `header length ${headerLength} is out of range` };
  }
  if (bytes.length < headerLength) return { offset: bytes.length, reason: 'the header is truncated' };
  const stored = view.getUint32(headerLength - 4, true);
  if (crc32(bytes.subarray(0, headerLength - 4)) !== stored) {
    return { offset: headerLength - 4, reason: 'the header checksum does not match' };
  }
  if (view.getUint32(12, true) !== 0) return { offset: 12, reason: 'unknown header flags are set' };
  return {
    version,
    headerLength,
    salt: bytes.slice(16, 24),
    firstSeq: readU64(view, 24),
    createdAt: readU64(view, 32),
    identityBytes: bytes.slice(HEADER_FIXED_BYTES, headerLength - 4),
  };
}

/** Whether {@link decodeHeader} returned a problem. */
export function isHeaderProblem(value: LogHeader | HeaderProblem): value is HeaderProblem {
  return 'reason' in value;
}

/** A record to be framed. */
export interface RecordToWrite {
  readonly type: RecordType;
  readonly seq: number;
  readonly payload: Uint8Array;
}

/** Size of `record` once framed. */
export function framedSize(payloadLength: number): number {
  return RECORD_HEADER_BYTES + payloadLength;
}

/**
 * Frames `record` into `target` at `offset`. `saltCrc` is crc32(salt). `durableMark` is the
 * file offset up to which the file was known durable when this record was written: recovery
 * uses it to tell a torn tail from damage to acknowledged data.
 */
export function frameRecord(
  target: Uint8Array,
  offset: number,
  record: RecordToWrite,
  saltCrc: number,
  durableMark: number,
): number {
  const length = record.payload.length;
  if (length > MAX_RECORD_BYTES) {
    throw new RangeError(`record payload of ${length} bytes exceeds the ${MAX_RECORD_BYTES}-byte limit`);
  }
  const view = viewOf(target);
  view.setUint32(offset, length, true);
  target[offset + 8] = record.type;
  target[offset + 9] = 0;
  target[offset + 10] = 0;
  target[offset + 11] = 0;
  writeU64(view, offset + 12, record.seq);
  writeU64(view, offset + 20, durableMark);
  target.set(record.payload, offset + RECORD_HEADER_BYTES);
  const crc = crc32(target.subarray(offset + 8, offset + RECORD_HEADER_BYTES + length), saltCrc);
  view.setUint32(offset + 4, crc, true);
  return offset + RECORD_HEADER_BYTES + length;
}

/** A record found in a file. */
export interface ScannedRecord {
  readonly offset: number;
  readonly type: RecordType;
  readonly seq: number;
  readonly durableMark: number;
  readonly payload: Uint8Array;
  /** Offset just past this record. */
  readonly end: number;
}

/**
 * Parses the record at `offset` and checks its CRC. Returns `undefined` if it is not a valid
 * record of this file. Never allocates more than the bytes already in `bytes`.
 */
export function parseRecordAt(
  bytes: Uint8Array,
  view: DataView,
  offset: number,
  saltCrc: number,
): ScannedRecord | undefined {
  if (bytes.length - offset < RECORD_HEADER_BYTES) return undefined;
  const length = view.getUint32(offset, true);
  if (length > MAX_RECORD_BYTES || length > bytes.length - offset - RECORD_HEADER_BYTES) return undefined;
  const type = bytes[offset + 8]!;
  if (!isRecordType(type) || bytes[offset + 9] !== 0 || bytes[offset + 10] !== 0 || bytes[offset + 11] !== 0) {
    return undefined;
  }
  const end = offset + RECORD_HEADER_BYTES + length;
  const stored = view.getUint32(offset + 4, true);
  if (crc32(bytes.subarray(offset + 8, end), saltCrc) !== stored) return undefined;
  return {
    offset,
    type,
    seq: readU64(view, offset + 12),
    durableMark: readU64(view, offset + 20),
    payload: bytes.subarray(offset + RECORD_HEADER_BYTES, end),
    end,
  };
}

/** crc32 of the salt: the seed of every record CRC. */
export function saltCrcOf(salt: Uint8Array): number {
  return crc32(salt);
}

export { viewOf };
