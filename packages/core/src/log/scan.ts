import {
  decodeHeader,
  durableMarkAt,
  isHeaderProblem,
  parseRecordAt,
  RECORD_HEADER_BYTES,
  RecordOffset,
  reservedBytesZero,
  saltCrcOf,
  viewOf,
  type LogHeader,
  type ScannedRecord,
} from './format.js';

/**
 * Recovery's reading of a file: the header, the valid records, and what lies after them.
 *
 * The rule that decides between "torn tail" and "corruption" (docs/log-format.md §Recovery):
 * let X be the offset of the first position that does not hold the next valid record. If some
 * valid record further on carries a durable mark greater than X, then X was known durable when
 * that record was written, so the damage is to acknowledged data: refuse. Otherwise nothing at
 * or after X was ever acknowledged as durable: it is a torn or zero-filled tail, and recovery
 * truncates it. A record must have the expected sequence number to count as the next one.
 */

/** A clean read: every byte after `validEnd` (if any) is a tail to discard. */
export interface ScanOk {
  readonly kind: 'ok';
  readonly header: LogHeader;
  readonly records: readonly ScannedRecord[];
  /** Offset just past the last valid record. */
  readonly validEnd: number;
  /** Bytes after `validEnd`: a torn or zero-filled tail. */
  readonly tailBytes: number;
  /** Why the tail is not a record, when there is one. */
  readonly tailReason?: string;
}

/** Damage recovery must not repair. */
export interface ScanCorrupt {
  readonly kind: 'corrupt';
  readonly offset: number;
  readonly reason: string;
}

export type ScanResult = ScanOk | ScanCorrupt;

/** Extra bytes the search for later records may checksum, beyond the file's own size. */
const SEARCH_BUDGET_FLOOR = 64 * 1024 * 1024;

function describeBadRecord(bytes: Uint8Array, view: DataView, offset: number, expectedSeq: number): string {
  const remaining = bytes.length - offset;
  if (remaining < RECORD_HEADER_BYTES) return `${remaining} byte(s) too few for a record frame`;
  if (bytes.subarray(offset).every((b) => b === 0)) return 'zero-filled';
  const length = view.getUint32(offset + RecordOffset.Length, true);
  if (length > remaining - RECORD_HEADER_BYTES) return `record length ${length} runs past the end of the file`;
  return `no valid record with sequence number ${expectedSeq} (checksum, type or sequence mismatch)`;
}

/** Scans `bytes` (a whole checkpoint file). Never throws on any input. */
export function scanLog(bytes: Uint8Array): ScanResult {
  const header = decodeHeader(bytes);
  if (isHeaderProblem(header)) return { kind: 'corrupt', offset: header.offset, reason: header.reason };
  const view = viewOf(bytes);
  const saltCrc = saltCrcOf(header.salt);
  const records: ScannedRecord[] = [];
  let offset = header.headerLength;
  let expectedSeq = header.firstSeq;
  let lastMark = 0;
  while (offset < bytes.length) {
    const record = parseRecordAt(bytes, view, offset, saltCrc);
    if (
      record === undefined ||
      record.seq !== expectedSeq ||
      record.durableMark > record.offset ||
      record.durableMark < lastMark
    ) {
      break;
    }
    records.push(record);
    lastMark = record.durableMark;
    offset = record.end;
    expectedSeq++;
  }
  if (offset === bytes.length) return { kind: 'ok', header, records, validEnd: offset, tailBytes: 0 };

  const badOffset = offset;
  // Search the rest of the file for a valid record that proves badOffset was durable.
  let budget = Math.max(SEARCH_BUDGET_FLOOR, 8 * bytes.length);
  for (let p = badOffset + 1; p + RECORD_HEADER_BYTES <= bytes.length; p++) {
    // Cheap filters first: a candidate must claim a mark past badOffset and not past itself.
    if (!reservedBytesZero(bytes, p)) continue;
    const mark = durableMarkAt(view, p);
    if (mark <= badOffset || mark > p) continue;
    const length = view.getUint32(p + RecordOffset.Length, true);
    if (length > bytes.length - p - RECORD_HEADER_BYTES) continue;
    budget -= length + RECORD_HEADER_BYTES;
    if (budget < 0) {
      return {
        kind: 'corrupt',
        offset: badOffset,
        reason: 'the bytes after the last valid record could not be classified within the scan budget',
      };
    }
    const candidate = parseRecordAt(bytes, view, p, saltCrc);
    if (candidate !== undefined && candidate.seq >= expectedSeq) {
      return {
        kind: 'corrupt',
        offset: badOffset,
        reason:
          `${describeBadRecord(bytes, view, badOffset, expectedSeq)}, yet the valid record at offset ${p} ` +
          `(sequence ${candidate.seq}) shows the data at ${badOffset} had been made durable`,
      };
    }
  }
  return {
    kind: 'ok',
    header,
    records,
    validEnd: badOffset,
    tailBytes: bytes.length - badOffset,
    tailReason: describeBadRecord(bytes, view, badOffset, expectedSeq),
  };
}
