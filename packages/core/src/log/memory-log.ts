import { Observable, ReplaySubject } from 'rxjs';
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
  close(): Promise<void>;
}

/** An {@link EventLog} that folds in memory and persists nothing (checkpoints not saved). */
export class MemoryLog implements EventLog {
  private readonly mutableState: MutableCheckpointState;
  private readonly replay = new ReplaySubject<LogEntry>();
  private nextSeq = 1;
  readonly failed = undefined;

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
    const scratch = events.length > 1 ? cloneState(this.mutableState) : this.mutableState;
    try {
      for (const event of events) this.fold.applyInPlace(scratch, event);
    } catch (error) {
      if (error instanceof FoldError) return Promise.reject(new InvalidInputError(`invalid event: ${error.message}`, { cause: error }));
      return Promise.reject(error as Error);
    }
    if (scratch !== this.mutableState) Object.assign(this.mutableState, scratch);
    events.forEach((event, index) => this.replay.next({ kind: 'event', seq, offset: -1, index, event }));
    return Promise.resolve({ seq });
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }

  entries(): Observable<LogEntry> {
    return this.replay.asObservable();
  }

  close(): Promise<void> {
    this.replay.complete();
    return Promise.resolve();
  }
}
