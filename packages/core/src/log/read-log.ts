import { CorruptCheckpointError, InvalidInputError, NotRegularFileError, StorageIoError } from '../errors.js';
import type { CkptEvent } from '../fold/events.js';
import { FoldError, type Fold } from '../fold/fold.js';
import { isPlainObject } from '../fold/plain.js';
import { restoreSnapshot } from '../fold/snapshot.js';
import { cloneState, type CheckpointState, type MutableCheckpointState } from '../fold/state.js';
import { errorCode, type Storage } from '../storage/storage.js';
import { decodePayload } from './codec.js';
import {
  decodeHeader,
  HEADER_FIXED_BYTES,
  HeaderOffset,
  isHeaderProblem,
  MAX_HEADER_BYTES,
  RecordType,
  type HeaderProblem,
  type LogHeader,
  type RecordSpan,
} from './format.js';
import { parseIdentity, type JobIdentity } from './identity.js';
import { scanLogSpans } from './scan.js';

/** A tail that recovery truncated when a writer session opened the file. */
export interface TailTruncation {
  /** Offset the file was truncated to: the end of the last valid record. */
  readonly offset: number;
  /** Bytes dropped. */
  readonly bytes: number;
  /** Sequence number of the last record kept. */
  readonly lastGoodSeq: number;
  /** Why the bytes at `offset` were not a record (checksum, length, zero-filled, ...). */
  readonly reason: string;
}

/** A writer session, from an EPOCH record. */
export interface EpochInfo {
  readonly epoch: number;
  readonly pid?: number;
  readonly host?: string;
  readonly startedAt?: number;
  readonly writer?: string;
  /** Present when this session's recovery truncated a tail. */
  readonly truncatedTail?: TailTruncation;
}

/** Reads an epoch record's `truncatedTail`, if it is well-formed (older writers never wrote one). */
function tailTruncationOf(value: unknown): TailTruncation | undefined {
  if (!isPlainObject(value)) return undefined;
  const { offset, bytes, lastGoodSeq, reason } = value;
  if (![offset, bytes, lastGoodSeq].every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)) return undefined;
  return { offset: offset as number, bytes: bytes as number, lastGoodSeq: lastGoodSeq as number, reason: typeof reason === 'string' ? reason : '?' };
}

/**
 * One line about a truncated tail, for people: what was dropped, where, and what it means.
 * `ckpt run` prints it as a warning; `ckpt events` and `ckpt inspect` show it from the log.
 */
export function describeTailTruncation(path: string, tail: TailTruncation): string {
  return (
    `recovery truncated ${path} at byte offset ${tail.offset}: ${tail.bytes} byte(s) after record ${tail.lastGoodSeq} ` +
    `were dropped (${tail.reason}). A write torn by a crash or power loss looks like this; so does damage ` +
    `to the last record after it was written, which cannot be told apart (docs/log-format.md, "When recovery truncates a tail")`
  );
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
  /** Tails truncated by the writer sessions recorded in the file (since its last compaction), oldest first. */
  readonly truncatedTails: readonly TailTruncation[];
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

/** {@link identityFromHeader}, with its error returned instead of thrown (reported after the scan's verdict). */
function identityOrError(path: string, header: LogHeader): JobIdentity | CorruptCheckpointError {
  try {
    return identityFromHeader(path, header);
  } catch (error) {
    return error as CorruptCheckpointError;
  }
}

function identityFromHeader(path: string, header: LogHeader): JobIdentity {
  let value: unknown;
  try {
    value = decodePayload(header.identityBytes);
  } catch (error) {
    throw new CorruptCheckpointError(path, HeaderOffset.Identity, 'the identity in the header is not valid msgpack', { cause: error });
  }
  const identity = parseIdentity(value);
  if (identity === undefined) {
    throw new CorruptCheckpointError(path, HeaderOffset.Identity, 'the identity in the header lacks kind, id, version or structureHash');
  }
  return identity;
}

/**
 * Why an existing checkpoint cannot be opened for reading, as a refusal (nothing was done yet):
 * a symbolic link whose target is gone, or a file this user may not read. Other errors stay I/O
 * errors.
 */
async function refuseUnopenable(storage: Storage, path: string, error: unknown): Promise<Error> {
  switch (errorCode(error)) {
    case 'ENOENT':
      if ((await storage.stat(path).catch(() => undefined))?.isSymbolicLink) {
        return new InvalidInputError(`checkpoint ${path} is a symbolic link whose target does not exist`, {
          cause: error,
          hint: `point the link at the checkpoint file or remove the link (ls -l ${path} shows where it points)`,
        });
      }
      break;
    case 'EACCES':
    case 'EPERM':
      return new InvalidInputError(`cannot read checkpoint ${path}: permission denied`, {
        cause: error,
        hint: `run as a user who may read and write it (ls -l ${path} shows its owner and mode)`,
      });
    case 'ELOOP':
      return new InvalidInputError(`checkpoint ${path} is a loop of symbolic links`, { cause: error, hint: 'point the link at the checkpoint file' });
  }
  return new StorageIoError(path, 'opening', { cause: error });
}

/**
 * Reads only the header of the checkpoint at `path` and returns its identity. It is the first
 * read of an existing checkpoint, so a file that cannot be opened is refused here.
 */
export async function readIdentity(storage: Storage, path: string): Promise<JobIdentity> {
  let file;
  try {
    file = await storage.open(path, 'read');
  } catch (error) {
    if (error instanceof NotRegularFileError) throw error; // a refusal (a FIFO, a link), not an I/O error
    throw await refuseUnopenable(storage, path, error);
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
  if (isHeaderProblem(header)) throw headerRefusal(path, header);
  return identityFromHeader(path, header);
}

/** The refusal of a header, with advice that fits it. */
function headerRefusal(path: string, problem: HeaderProblem): CorruptCheckpointError {
  // A later ckpt wrote it: the file is fine, this program is too old — no advice to delete it.
  if (problem.newer === true) {
    return new CorruptCheckpointError(path, problem.offset, problem.reason, {
      newer: true,
      hint: 'a later version of ckpt wrote it; upgrade ckpt to read or continue it (the file is not damaged: keep it)',
    });
  }
  // No magic bytes: another kind of file (a package file named by mistake), not a damaged
  // checkpoint — so no advice to delete it.
  const notACheckpoint = problem.offset === 0 && {
    hint: `${path} is not a ckpt checkpoint; check the checkpoint path (checkpoint.file or --checkpoint-file)`,
  };
  return new CorruptCheckpointError(path, problem.offset, problem.reason, { ...notACheckpoint });
}

function corrupt(path: string, record: Pick<RecordSpan, 'offset' | 'seq'>, reason: string, cause?: unknown): CorruptCheckpointError {
  return new CorruptCheckpointError(path, record.offset, `record ${record.seq}: ${reason}`, { cause });
}

/**
 * Parses and folds a checkpoint file's bytes. Throws CorruptCheckpointError (with the byte
 * offset) for damage recovery must not repair; a torn tail is reported, not repaired.
 */
export function readLogBytes(path: string, bytes: Uint8Array, fold: Fold, options: { readonly withEntries?: boolean } = {}): LogReading {
  // Each record is decoded and folded as soon as the scan has checked it, so no array of every
  // record is built. The scan's verdict still comes first: when it finds damage past a record
  // that failed to fold, the damage is what is reported, as when the whole scan ran first.
  const header = decodeHeader(bytes);
  // The scan refuses the same header first; a newer version is refused here with its advice.
  if (isHeaderProblem(header) && header.newer === true) throw headerRefusal(path, header);
  const identity = isHeaderProblem(header) ? undefined : identityOrError(path, header);
  const entries: LogEntry[] | undefined = options.withEntries ? [] : undefined;
  let state: MutableCheckpointState = cloneState(fold.initial());
  let epoch = 0;
  let snapshotEnd = 0;
  const truncatedTails: TailTruncation[] = [];
  let failure: unknown;
  const scan = scanLogSpans(bytes, (record, position) => {
    if (failure !== undefined) return;
    try {
      applyRecord(record, position);
    } catch (error) {
      failure = error;
    }
  });
  if (scan.kind === 'corrupt') throw new CorruptCheckpointError(path, scan.offset, scan.reason);
  if (identity instanceof Error) throw identity;
  if (failure !== undefined) throw failure;
  if (snapshotEnd === 0) snapshotEnd = scan.header.headerLength;

  function applyRecord(record: RecordSpan, position: number): void {
    let payload: unknown;
    try {
      payload = decodePayload(bytes.subarray(record.payloadOffset, record.end));
    } catch (error) {
      throw corrupt(path, record, `payload is not valid msgpack plain data (${(error as Error).message})`, error);
    }
    switch (record.type) {
      case RecordType.Epoch: {
        // Finite only: a NaN epoch compares false with everything and would let any later epoch pass.
        if (!isPlainObject(payload) || typeof payload['epoch'] !== 'number' || !Number.isFinite(payload['epoch']))
          throw corrupt(path, record, 'malformed epoch record');
        if (payload['epoch'] <= epoch) {
          throw corrupt(path, record, `epoch ${payload['epoch']} does not exceed epoch ${epoch}: two writers wrote this file`);
        }
        epoch = payload['epoch'];
        const truncated = tailTruncationOf(payload['truncatedTail']);
        if (truncated !== undefined) truncatedTails.push(truncated);
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
        if (!isPlainObject(payload) || typeof payload['epoch'] !== 'number' || !Number.isFinite(payload['epoch']))
          throw corrupt(path, record, 'malformed snapshot record');
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
  }
  return {
    header: scan.header,
    identity: identity!,
    state,
    epoch,
    lastSeq: scan.header.firstSeq + scan.recordCount - 1,
    validEnd: scan.validEnd,
    tailBytes: scan.tailBytes,
    ...(scan.tailReason !== undefined && { tailReason: scan.tailReason }),
    fileSize: bytes.length,
    snapshotEnd,
    ...(entries !== undefined && { entries }),
    truncatedTails,
  };
}

/** Reads a checkpoint file without changing it (no truncation, no lock). */
export async function readLog(storage: Storage, path: string, fold: Fold, options: { readonly withEntries?: boolean } = {}): Promise<LogReading> {
  return readLogBytes(path, await readWholeFile(storage, path), fold, options);
}

/** What a checkpoint still tells when it is damaged: its entries before the damage. */
export interface LogPrefixReading {
  /** Every entry before the damage (all of them when there is none), in order. */
  readonly entries: readonly LogEntry[];
  /** The damage that stops the reading, with its offset; undefined when the file reads whole. */
  readonly damage: CorruptCheckpointError | undefined;
  /** The whole reading, when there is no damage. */
  readonly reading: LogReading | undefined;
}

/**
 * Reads as much of a checkpoint as is readable, without changing it: for a damaged file, the
 * entries of the records before the first damage (`ckpt events` on a corrupt checkpoint).
 * Each damage found at offset X is met by reading again the bytes before X, so the entries
 * are exactly what a reader accepts of that prefix. Pure: the caller reads the bytes (once).
 */
export function readLogPrefix(path: string, bytes: Uint8Array, fold: Fold): LogPrefixReading {
  let end = bytes.length;
  let damage: CorruptCheckpointError | undefined;
  for (;;) {
    try {
      const reading = readLogBytes(path, bytes.subarray(0, end), fold, { withEntries: true });
      return { entries: reading.entries ?? [], damage, reading: damage === undefined ? reading : undefined };
    } catch (error) {
      if (!(error instanceof CorruptCheckpointError)) throw error;
      damage ??= error;
      // Damage in the header (or a prefix too short for one) leaves nothing readable.
      if (error.offset >= end || error.offset < HEADER_FIXED_BYTES) return { entries: [], damage, reading: undefined };
      end = error.offset;
    }
  }
}
