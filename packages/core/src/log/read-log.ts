import { CorruptCheckpointError, NotRegularFileError, StorageIoError } from '../errors.js';
import type { CkptEvent } from '../fold/events.js';
import { FoldError, type Fold } from '../fold/fold.js';
import { isPlainObject } from '../fold/plain.js';
import { restoreSnapshot } from '../fold/snapshot.js';
import { cloneState, type CheckpointState, type MutableCheckpointState } from '../fold/state.js';
import { errorCode, type Storage } from '../storage/storage.js';
import { decodePayload } from './codec.js';
import { decodeHeader, isHeaderProblem, MAX_HEADER_BYTES, RecordType, type LogHeader, type ScannedRecord } from './format.js';
import { parseIdentity, type JobIdentity } from './identity.js';
import { scanLog } from './scan.js';

/** A writer session, from an EPOCH record. */
export interface EpochInfo {
  readonly epoch: number;
  readonly pid?: number;
  readonly host?: string;
  readonly startedAt?: number;
  readonly writer?: string;
}

/** One entry of the log, in order. */
export type LogEntry =
  | { readonly kind: 'epoch'; readonly seq: number; readonly offset: number; readonly epoch: EpochInfo }
  | { readonly kind: 'event'; readonly seq: number; readonly offset: number; readonly index: number; readonly event: CkptEvent }
  | {
      readonly kind: 'snapshot';
      readonly seq: number;
      readonly offset: number;
      /** Events the snapshot summarises. */
      readonly eventCount: number;
      readonly state: CheckpointState;
    };

/** Everything read from a checkpoint file. */
export interface LogReading {
  readonly header: LogHeader;
  readonly identity: JobIdentity;
  readonly state: MutableCheckpointState;
  /** Highest epoch recorded (0 if none). */
  readonly epoch: number;
  /** Sequence number of the last valid record (firstSeq - 1 if none). */
  readonly lastSeq: number;
  /** Offset just past the last valid record. */
  readonly validEnd: number;
  /** Bytes of torn or zero-filled tail after `validEnd` (recovery truncates them). */
  readonly tailBytes: number;
  readonly tailReason?: string;
  /** Size of the file as read. */
  readonly fileSize: number;
  /** Offset just past the snapshot record, or the header length when there is none. */
  readonly snapshotEnd: number;
  /** Every entry, when requested. */
  readonly entries?: readonly LogEntry[];
}

/** Reads the whole file at `path`. Throws a StorageIoError with the path when it cannot. */
export async function readWholeFile(storage: Storage, path: string): Promise<Uint8Array> {
  let file;
  try {
    file = await storage.open(path, 'read');
  } catch (error) {
    if (error instanceof NotRegularFileError) throw error; // a refusal (a FIFO, a link), not an I/O error
    throw new StorageIoError(path, 'opening', {
      cause: error,
      ...(errorCode(error) === 'EACCES' && { hint: `check the permissions of ${path}` }),
    });
  }
  try {
    const size = await file.size();
    if (size > 0x7fff_ffff) {
      throw new CorruptCheckpointError(path, 0, `the file is ${size} bytes, beyond what one checkpoint can hold`);
    }
    return await file.read(0, size);
  } catch (error) {
    if (error instanceof CorruptCheckpointError) throw error;
    throw new StorageIoError(path, 'reading', { cause: error });
  } finally {
    await file.close().catch(() => undefined);
  }
}

function identityFromHeader(path: string, header: LogHeader): JobIdentity {
  let value: unknown;
  try {
    value = decodePayload(header.identityBytes);
  } catch (error) {
    throw new CorruptCheckpointError(path, 40, 'the identity in the header is not valid msgpack', { cause: error });
  }
  const identity = parseIdentity(value);
  if (identity === undefined) {
    throw new CorruptCheckpointError(path, 40, 'the identity in the header lacks kind, id, version or structureHash');
  }
  return identity;
}

/** Reads only the header of the checkpoint at `path` and returns its identity. */
export async function readIdentity(storage: Storage, path: string): Promise<JobIdentity> {
  let file;
  try {
    file = await storage.open(path, 'read');
  } catch (error) {
    if (error instanceof NotRegularFileError) throw error; // a refusal (a FIFO, a link), not an I/O error
    throw new StorageIoError(path, 'opening', { cause: error });
  }
  let bytes: Uint8Array;
  try {
    bytes = await file.read(0, MAX_HEADER_BYTES);
  } catch (error) {
    throw new StorageIoError(path, 'reading', { cause: error });
  } finally {
    await file.close().catch(() => undefined);
  }
  const header = decodeHeader(bytes);
  if (isHeaderProblem(header)) throw new CorruptCheckpointError(path, header.offset, header.reason);
  return identityFromHeader(path, header);
}

function corrupt(path: string, record: ScannedRecord, reason: string, cause?: unknown): CorruptCheckpointError {
  return new CorruptCheckpointError(path, record.offset, `record ${record.seq}: ${reason}`, { cause });
}

/**
 * Parses and folds a checkpoint file's bytes. Throws CorruptCheckpointError (with the byte
 * offset) for damage recovery must not repair; a torn tail is reported, not repaired.
 */
export function readLogBytes(
  path: string,
  bytes: Uint8Array,
  fold: Fold,
  options: { readonly withEntries?: boolean } = {},
): LogReading {
  const scan = scanLog(bytes);
  if (scan.kind === 'corrupt') throw new CorruptCheckpointError(path, scan.offset, scan.reason);
  const { header } = scan;
  const identity = identityFromHeader(path, header);
  const entries: LogEntry[] | undefined = options.withEntries ? [] : undefined;
  let state: MutableCheckpointState = cloneState(fold.initial());
  let epoch = 0;
  let snapshotEnd = header.headerLength;
  scan.records.forEach((record, position) => {
    let payload: unknown;
    try {
      payload = decodePayload(record.payload);
    } catch (error) {
      throw corrupt(path, record, `payload is not valid msgpack plain data (${(error as Error).message})`, error);
    }
    switch (record.type) {
      case RecordType.Epoch: {
        if (!isPlainObject(payload) || typeof payload['epoch'] !== 'number') throw corrupt(path, record, 'malformed epoch record');
        if (payload['epoch'] <= epoch) {
          throw corrupt(path, record, `epoch ${payload['epoch']} does not exceed epoch ${epoch}: two writers wrote this file`);
        }
        epoch = payload['epoch'];
        entries?.push({ kind: 'epoch', seq: record.seq, offset: record.offset, epoch: payload as unknown as EpochInfo });
        return;
      }
      case RecordType.Events: {
        if (!Array.isArray(payload) || payload.length === 0) throw corrupt(path, record, 'an events record must hold a non-empty array');
        payload.forEach((event, index) => {
          try {
            fold.applyInPlace(state, event as CkptEvent);
          } catch (error) {
            if (error instanceof FoldError) throw corrupt(path, record, `event ${index}: ${error.message}`, error);
            throw error;
          }
          entries?.push({ kind: 'event', seq: record.seq, offset: record.offset, index, event: event as CkptEvent });
        });
        return;
      }
      case RecordType.Snapshot: {
        if (position !== 0) throw corrupt(path, record, 'a snapshot may only be the first record');
        if (!isPlainObject(payload) || typeof payload['epoch'] !== 'number') throw corrupt(path, record, 'malformed snapshot record');
        try {
          state = restoreSnapshot(payload['state'], fold);
        } catch (error) {
          if (error instanceof FoldError) throw corrupt(path, record, error.message, error);
          throw error;
        }
        epoch = payload['epoch'];
        snapshotEnd = record.end;
        entries?.push({ kind: 'snapshot', seq: record.seq, offset: record.offset, eventCount: state.eventCount, state: cloneState(state) });
        return;
      }
    }
  });
  return {
    header,
    identity,
    state,
    epoch,
    lastSeq: header.firstSeq + scan.records.length - 1,
    validEnd: scan.validEnd,
    tailBytes: scan.tailBytes,
    ...(scan.tailReason !== undefined && { tailReason: scan.tailReason }),
    fileSize: bytes.length,
    snapshotEnd,
    ...(entries !== undefined && { entries }),
  };
}

/** Reads a checkpoint file without changing it (no truncation, no lock). */
export async function readLog(
  storage: Storage,
  path: string,
  fold: Fold,
  options: { readonly withEntries?: boolean } = {},
): Promise<LogReading> {
  return readLogBytes(path, await readWholeFile(storage, path), fold, options);
}
