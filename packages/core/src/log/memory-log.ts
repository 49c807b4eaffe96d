import { BehaviorSubject, type Observable, ReplaySubject } from 'rxjs';
import { InvalidInputError } from '../errors.js';
import type { CkptEvent } from '../fold/events.js';
import { FoldError, type Fold } from '../fold/fold.js';
import { cloneState, type CheckpointState, type MutableCheckpointState } from '../fold/state.js';
import type { AppendReceipt, Durability } from './journal.js';
import type { LogEntry } from './read-log.js';

/**
 * What the engine writes events to: a {@link Journal} when checkpoints are saved, a
 * {@link MemoryLog} when they are not (save off), so runners see the same fold either way.
 */
export interface EventLog {
  readonly state: CheckpointState;
  readonly failed: Error | undefined;
  append(events: readonly CkptEvent[], options?: { readonly durability?: Durability }): Promise<AppendReceipt>;
  sync(): Promise<void>;
  entries(): Observable<LogEntry>;
  /** The last record read from the file when the log was opened: entries up to it are replayed, later ones new (0: none). */
  readonly replayedSeq: number;
  /** The last record known durable: every entry with a `seq` up to it is on disk (or, for a log that persists nothing, as durable as it gets). */
  readonly durableSeq: number;
  /** {@link EventLog.durableSeq} now, then each time it advances; completes when the log closes. */
  durableMarks(): Observable<number>;
  close(): Promise<void>;
}

/** An {@link EventLog} that folds in memory and persists nothing (checkpoints not saved). */
export class MemoryLog implements EventLog {
  private readonly mutableState: MutableCheckpointState;
  private readonly replay = new ReplaySubject<LogEntry>();
  private nextSeq = 1;
  private readonly marks = new BehaviorSubject(0);
  readonly failed = undefined;
  /** Nothing is read from a file: every entry is new. */
  readonly replayedSeq = 0;

  constructor(
    private readonly fold: Fold,
    start: CheckpointState = fold.initial(),
  ) {
    this.mutableState = cloneState(start);
  }

  get state(): CheckpointState {
    return this.mutableState;
  }

  append(events: readonly CkptEvent[]): Promise<AppendReceipt> {
    const seq = this.nextSeq++;
    try {
      // All or nothing, without copying the state.
      this.fold.applyAllInPlace(this.mutableState, events);
    } catch (error) {
      if (error instanceof FoldError) return Promise.reject(new InvalidInputError(`invalid event: ${error.message}`, { cause: error }));
      return Promise.reject(error as Error);
    }
    // Nothing is persisted, so a record is as durable as it gets at once (the barrier resolves too).
    this.marks.next(seq);
    events.forEach((event, index) => this.replay.next({ kind: 'event', seq, offset: -1, index, event }));
    return Promise.resolve({ seq });
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }

  entries(): Observable<LogEntry> {
    return this.replay.asObservable();
  }

  get durableSeq(): number {
    return this.marks.value;
  }

  durableMarks(): Observable<number> {
    return this.marks.asObservable();
  }

  close(): Promise<void> {
    this.replay.complete();
    this.marks.complete();
    return Promise.resolve();
  }
}
