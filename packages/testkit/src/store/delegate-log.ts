import type { OpenedCheckpoint } from '@ckpt/core';

/** The log of an opened checkpoint. */
type CheckpointLog = OpenedCheckpoint['log'];

/**
 * A log that is `log` in everything but its writes: the state, sequence numbers, entries, marks
 * and close read through to `log` (live, as getters), and `append` and `sync` are the given ones.
 * For wrappers that gate, record or break the writes of any store's log.
 */
export function delegateLog(log: CheckpointLog, writes: Pick<CheckpointLog, 'append' | 'sync'>): CheckpointLog {
  return {
    get state() {
      return log.state;
    },
    get failed() {
      return log.failed;
    },
    get replayedSeq() {
      return log.replayedSeq;
    },
    get durableSeq() {
      return log.durableSeq;
    },
    entries: () => log.entries(),
    durableMarks: () => log.durableMarks(),
    close: () => log.close(),
    append: writes.append,
    sync: writes.sync,
  };
}
