/**
 * A log's entries as one stream: those already stored (a file read whole, a store's rows read in
 * pages), then each one as it is appended, with no gap and no repeat even though appends go on
 * during the read. Shared by the file Journal and the PostgreSQL log: the ordering argument is
 * subtle and independent of where records are written.
 */
import { Observable } from 'rxjs';
import type { LogEntry } from './read-log.js';

/** Where {@link replayThenFollow} takes entries from. */
export interface EntrySource {
  /** Each entry as it is appended (folded); completes or errors when the log closes or fails. */
  readonly live: Observable<LogEntry>;
  /** Entries appended but not yet written, at the time of subscribing: the read cannot see them. */
  queued(): readonly LogEntry[];
  /** Reads the stored log, calling `onEntry` for each entry in order. */
  read(onEntry: (entry: LogEntry) => void): Promise<unknown>;
  /** Whether the log is closed (then the stream completes after the replay). */
  closed(): boolean;
}

/**
 * Every stored entry, then the queued ones, then each live one. Live entries that arrive during
 * the read are buffered; an entry at or before the last delivered (seq, index) is dropped, which
 * is what makes the overlap of the three sources deliver each entry exactly once, in order.
 */
export function replayThenFollow(source: EntrySource): Observable<LogEntry> {
  return new Observable<LogEntry>((subscriber) => {
    let replaying = true;
    let lastSeq = 0;
    let lastIndex = -1;
    const buffered: LogEntry[] = [];
    const deliver = (entry: LogEntry) => {
      const index = entry.kind === 'event' ? entry.index : -1;
      if (entry.seq < lastSeq || (entry.seq === lastSeq && index <= lastIndex)) return;
      lastSeq = entry.seq;
      lastIndex = index;
      subscriber.next(entry);
    };
    const liveSubscription = source.live.subscribe({
      next: (entry) => (replaying ? buffered.push(entry) : deliver(entry)),
      error: (error: unknown) => subscriber.error(error),
      complete: () => (replaying ? undefined : subscriber.complete()),
    });
    const queued = source.queued();
    source
      .read((entry) => (subscriber.closed ? undefined : deliver(entry)))
      .then(() => {
        if (subscriber.closed) return;
        for (const entry of queued) deliver(entry);
        for (const entry of buffered) deliver(entry);
        replaying = false;
        if (source.closed()) subscriber.complete();
      })
      .catch((error: unknown) => subscriber.error(error));
    return () => liveSubscription.unsubscribe();
  });
}
