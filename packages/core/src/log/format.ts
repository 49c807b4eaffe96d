import { crc32 } from 'node:zlib';

/**
 * The on-disk format, version 2 (version 1 still read). docs/log-format.md is the normative
 * description; the constants here are the single source of the numbers in it. All integers are
 * little-endian.
 *
 * File   = Header Record*
 * Header = magic[8] version:u16 headerLength:u16 flags:u32 salt[8] firstSeq:u64 createdAt:u64
 *          identity:msgpack crc:u32                          (crc over every header byte before it)
 * Record = length:u32 crc:u32 type:u8 reserved[3] seq:u64 durableMark:u64 payload[length]
 *          (crc over type..payload, seeded with crc32(salt))
 */

/** "\x89CKPT\r\n\x1a": a high byte (catches 7-bit transfers), the name, and line-ending canaries. */
export const MAGIC = Uint8Array.of(0x89, 0x43, 0x4b, 0x50, 0x54, 0x0d, 0x0a, 0x1a);
/**
 * The format version this program writes. Version 2 added `scope` to `variable-set` (the value
 * counts once the scope commits): a version-1 reader would ignore the field and apply the value
 * at once, so such a reader must refuse the file, which the version number makes it do.
 */
export const FORMAT_VERSION = 2;
/**
 * The oldest format version this program reads. A version-1 file has the same layout and event
 * rules (no writer of version 1 put a `scope` on a variable-set); a writer that opens one rewrites
 * it as version 2 before appending (`upgradeToCurrentFormat`, upgrade.ts).
 */
export const OLDEST_FORMAT_VERSION = 1;
/**
 * Byte offsets of the header's fields (the table in docs/log-format.md). Every reader and writer
 * takes them from here.
 */
export const HeaderOffset = {
  Magic: 0,
  Version: 8,
  HeaderLength: 10,
  Flags: 12,
  Salt: 16,
  FirstSeq: 24,
  CreatedAt: 32,
  /** Where the identity starts: the end of the fixed part. */
  Identity: 40,
} as const;
/** Size of the salt (header bytes `HeaderOffset.Salt` to `HeaderOffset.Salt + SALT_BYTES`). */
export const SALT_BYTES = 8;
/** Size of the header's fixed part, before the identity. */
export const HEADER_FIXED_BYTES = HeaderOffset.Identity;
/** Size of the header's trailing CRC. */
export const HEADER_CRC_BYTES = 4;
/** Byte offsets within a record frame. */
export const RecordOffset = {
  Length: 0,
  Crc: 4,
  Type: 8,
  /** Three reserved bytes, zero. */
  Reserved: 9,
  Seq: 12,
  DurableMark: 20,
  Payload: 28,
} as const;
/** Largest header accepted. */
export const MAX_HEADER_BYTES = 4096;
/** Size of a record's frame before its payload. */
export const RECORD_HEADER_BYTES = RecordOffset.Payload;
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

/** Builds a header (of {@link FORMAT_VERSION}). */
export function encodeHeader(fields: { salt: Uint8Array; firstSeq: number; createdAt: number; identityBytes: Uint8Array }): Uint8Array {
  const length = HEADER_FIXED_BYTES + fields.identityBytes.length + HEADER_CRC_BYTES;
  if (length > MAX_HEADER_BYTES) {
    throw new RangeError(`the identity is too large for a header (${length} > ${MAX_HEADER_BYTES} bytes)`);
  }
  const bytes = new Uint8Array(length);
  const view = viewOf(bytes);
  bytes.set(MAGIC, HeaderOffset.Magic);
  view.setUint16(HeaderOffset.Version, FORMAT_VERSION, true);
  view.setUint16(HeaderOffset.HeaderLength, length, true);
  view.setUint32(HeaderOffset.Flags, 0, true);
  bytes.set(fields.salt.subarray(0, SALT_BYTES), HeaderOffset.Salt);
  writeU64(view, HeaderOffset.FirstSeq, fields.firstSeq);
  writeU64(view, HeaderOffset.CreatedAt, fields.createdAt);
  bytes.set(fields.identityBytes, HeaderOffset.Identity);
  view.setUint32(length - HEADER_CRC_BYTES, crc32(bytes.subarray(0, length - HEADER_CRC_BYTES)), true);
  return bytes;
}

/**
 * The bytes of `bytes` (a file of an older format version, `header` its decoded header) as a
 * file of {@link FORMAT_VERSION}: the same header fields under the new version (so the same
 * length, salt and record offsets), then the records up to `validEnd` unchanged. Their CRCs
 * are seeded by the salt alone, so they stay valid.
 */
export function upgradedBytes(bytes: Uint8Array, header: LogHeader, validEnd: number): Uint8Array {
  const newHeader = encodeHeader(header);
  if (newHeader.length !== header.headerLength) {
    throw new RangeError(`the upgraded header is ${newHeader.length} bytes, the old one ${header.headerLength}`);
  }
  const upgraded = new Uint8Array(validEnd);
  upgraded.set(bytes.subarray(0, validEnd), 0);
  upgraded.set(newHeader, 0);
  return upgraded;
}

/**
 * Why a header was refused; `newer` when the file's format version is newer than this program
 * reads (a later ckpt wrote it: the file is not damaged).
 */
export type HeaderProblem = { readonly offset: number; readonly reason: string; readonly newer?: true };

/**
 * Parses a header from the first bytes of a file. Returns the header, or the problem and the
 * offset it was found at. `bytes` may be shorter than the header.
 */
export function decodeHeader(bytes: Uint8Array): LogHeader | HeaderProblem {
  if (bytes.length < MAGIC.length || MAGIC.some((b, i) => bytes[i] !== b)) {
    return { offset: 0, reason: 'it does not start with the ckpt magic bytes (not a ckpt checkpoint file)' };
  }
  if (bytes.length < HEADER_FIXED_BYTES + HEADER_CRC_BYTES) return { offset: bytes.length, reason: 'the header is truncated' };
  const view = viewOf(bytes);
  const version = view.getUint16(HeaderOffset.Version, true);
  if (version > FORMAT_VERSION) {
    return {
      offset: HeaderOffset.Version,
      reason: `format version ${version} is newer than this ckpt reads (versions ${OLDEST_FORMAT_VERSION} to ${FORMAT_VERSION})`,
      newer: true,
    };
  }
  if (version < OLDEST_FORMAT_VERSION) {
    return {
      offset: HeaderOffset.Version,
      reason: `format version ${version} is not a version ckpt ever wrote (it reads ${OLDEST_FORMAT_VERSION} to ${FORMAT_VERSION})`,
    };
  }
  const headerLength = view.getUint16(HeaderOffset.HeaderLength, true);
  if (headerLength < HEADER_FIXED_BYTES + HEADER_CRC_BYTES || headerLength > MAX_HEADER_BYTES) {
    return { offset: HeaderOffset.HeaderLength, reason: `header length ${headerLength} is out of range` };
  }
  if (bytes.length < headerLength) return { offset: bytes.length, reason: 'the header is truncated' };
  const crcAt = headerLength - HEADER_CRC_BYTES;
  const stored = view.getUint32(crcAt, true);
  if (crc32(bytes.subarray(0, crcAt)) !== stored) {
    return { offset: crcAt, reason: 'the header checksum does not match' };
  }
  if (view.getUint32(HeaderOffset.Flags, true) !== 0) return { offset: HeaderOffset.Flags, reason: 'unknown header flags are set' };
  return {
    version,
    headerLength,
    salt: bytes.slice(HeaderOffset.Salt, HeaderOffset.Salt + SALT_BYTES),
    firstSeq: readU64(view, HeaderOffset.FirstSeq),
    createdAt: readU64(view, HeaderOffset.CreatedAt),
    identityBytes: bytes.slice(HeaderOffset.Identity, crcAt),
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
  /** A DataView of `target` (a batch frames many records into one buffer: one view for all). */
  view: DataView = viewOf(target),
): number {
  const length = record.payload.length;
  if (length > MAX_RECORD_BYTES) {
    throw new RangeError(`record payload of ${length} bytes exceeds the ${MAX_RECORD_BYTES}-byte limit`);
  }
  view.setUint32(offset + RecordOffset.Length, length, true);
  target[offset + RecordOffset.Type] = record.type;
  target.fill(0, offset + RecordOffset.Reserved, offset + RecordOffset.Seq);
  writeU64(view, offset + RecordOffset.Seq, record.seq);
  writeU64(view, offset + RecordOffset.DurableMark, durableMark);
  target.set(record.payload, offset + RecordOffset.Payload);
  const crc = crc32(target.subarray(offset + RecordOffset.Type, offset + RecordOffset.Payload + length), saltCrc);
  view.setUint32(offset + RecordOffset.Crc, crc, true);
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
 * Where a record lies in a file, as {@link parseRecordInto} fills it in: the scan reuses one
 * such object for every record instead of allocating a {@link ScannedRecord} and a payload view.
 */
export interface RecordSpan {
  offset: number;
  type: RecordType;
  seq: number;
  durableMark: number;
  /** Offset of the payload's first byte; it ends at `end`. */
  payloadOffset: number;
  /** Offset just past this record. */
  end: number;
}

/** A {@link RecordSpan} to fill in. */
export function emptySpan(): RecordSpan {
  return { offset: 0, type: RecordType.Epoch, seq: 0, durableMark: 0, payloadOffset: 0, end: 0 };
}

/**
 * Checks the record at `offset` (length, type, reserved bytes, CRC) and, when it is a valid
 * record of this file, fills `span` with where it lies and returns true. Allocates nothing but
 * the view the CRC is computed over.
 */
export function parseRecordInto(bytes: Uint8Array, view: DataView, offset: number, saltCrc: number, span: RecordSpan): boolean {
  if (bytes.length - offset < RECORD_HEADER_BYTES) return false;
  const length = view.getUint32(offset + RecordOffset.Length, true);
  if (length > MAX_RECORD_BYTES || length > bytes.length - offset - RECORD_HEADER_BYTES) return false;
  const type = bytes[offset + RecordOffset.Type]!;
  if (!isRecordType(type) || !reservedBytesZero(bytes, offset)) return false;
  const end = offset + RecordOffset.Payload + length;
  const stored = view.getUint32(offset + RecordOffset.Crc, true);
  if (crc32(bytes.subarray(offset + RecordOffset.Type, end), saltCrc) !== stored) return false;
  span.offset = offset;
  span.type = type;
  span.seq = readU64(view, offset + RecordOffset.Seq);
  span.durableMark = readU64(view, offset + RecordOffset.DurableMark);
  span.payloadOffset = offset + RecordOffset.Payload;
  span.end = end;
  return true;
}

/**
 * Parses the record at `offset` and checks its CRC. Returns `undefined` if it is not a valid
 * record of this file. Never allocates more than the bytes already in `bytes`.
 */
export function parseRecordAt(bytes: Uint8Array, view: DataView, offset: number, saltCrc: number): ScannedRecord | undefined {
  const span = emptySpan();
  if (!parseRecordInto(bytes, view, offset, saltCrc, span)) return undefined;
  return {
    offset,
    type: span.type,
    seq: span.seq,
    durableMark: span.durableMark,
    payload: bytes.subarray(span.payloadOffset, span.end),
    end: span.end,
  };
}

/** Whether the reserved bytes of the record frame at `offset` are zero (a cheap filter before the CRC). */
export function reservedBytesZero(bytes: Uint8Array, offset: number): boolean {
  for (let i = offset + RecordOffset.Reserved; i < offset + RecordOffset.Seq; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** The durable mark a record frame at `offset` claims (read before its CRC is checked). */
export function durableMarkAt(view: DataView, offset: number): number {
  return readU64(view, offset + RecordOffset.DurableMark);
}

/** The salt's bytes within an encoded header. */
export function saltOf(header: Uint8Array): Uint8Array {
  return header.slice(HeaderOffset.Salt, HeaderOffset.Salt + SALT_BYTES);
}

/** crc32 of the salt: the seed of every record CRC. */
export function saltCrcOf(salt: Uint8Array): number {
  return crc32(salt);
}

export { viewOf };
